"""The synthetic organization behind the sample bill: teams, products, accounts.

Fixed (not seed-dependent) so that the sample allocation config and the business metrics can
name the same teams. Other modules and tests import these names rather than repeating them.
"""

from __future__ import annotations

from dataclasses import dataclass

CURRENCY = "USD"


@dataclass(frozen=True)
class Team:
    name: str
    product: str
    cost_center: str
    # Relative size of the team's spend (weights, not dollars).
    weight: float


TEAMS: tuple[Team, ...] = (
    Team("checkout", "storefront", "CC-1001", 1.4),
    Team("search", "storefront", "CC-1002", 1.2),
    Team("payments", "storefront", "CC-1003", 1.0),
    Team("catalog", "marketplace", "CC-2001", 0.9),
    Team("identity", "marketplace", "CC-2002", 0.6),
    Team("mobile-api", "marketplace", "CC-2003", 0.8),
    Team("ads", "ads", "CC-3001", 1.1),
    Team("recommendations", "ads", "CC-3002", 1.0),
    Team("data-platform", "internal", "CC-4001", 1.3),
    Team("ml-platform", "internal", "CC-4002", 1.2),
    Team("notifications", "internal", "CC-4003", 0.4),
    # Owns shared infrastructure (networking, EKS control planes, support); its cost is split.
    Team("platform", "internal", "CC-9000", 1.0),
)

TEAM_NAMES: tuple[str, ...] = tuple(t.name for t in TEAMS)
PRODUCTS: tuple[str, ...] = tuple(dict.fromkeys(t.product for t in TEAMS))
ENVIRONMENTS: tuple[str, ...] = ("prod", "staging", "dev")
SHARED_TEAM = "platform"

# Tag keys as they appear in resource_tags (CUR 2.0 prefixes user tags with 'user_').
# The variants are the imperfect tagging every real organization has.
TEAM_TAG_KEYS: tuple[str, ...] = ("user_team", "user_Team", "user_owner-team")
PRODUCT_TAG_KEY = "user_product"
ENVIRONMENT_TAG_KEY = "user_environment"
COST_CENTER_TAG_KEY = "user_cost-center"


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    payer_id: str
    # Team that owns the whole account, or None for accounts shared by many teams.
    owner: str | None


PAYERS: tuple[str, ...] = ("111111111111", "222222222222")

ACCOUNTS: tuple[Account, ...] = (
    Account("111111111111", "org-management", "111111111111", "platform"),
    Account("210000000001", "storefront-prod", "111111111111", None),
    Account("210000000002", "storefront-staging", "111111111111", None),
    Account("210000000003", "marketplace-prod", "111111111111", None),
    Account("210000000004", "ads-prod", "111111111111", "ads"),
    Account("210000000005", "data-lake", "111111111111", "data-platform"),
    Account("210000000006", "ml-training", "111111111111", "ml-platform"),
    Account("210000000007", "shared-network", "111111111111", "platform"),
    Account("222222222222", "emea-management", "222222222222", "platform"),
    Account("220000000001", "emea-storefront-prod", "222222222222", None),
    Account("220000000002", "emea-dev-sandbox", "222222222222", None),
    Account("220000000003", "emea-shared-eks", "222222222222", "platform"),
)

# Tag keys beyond the four above. The application tag was activated as a cost allocation tag
# late: it appears only from the second generated month (legacy CUR gains a column).
APPLICATION_TAG_KEY = "user_application"
# EKS clusters and their worker nodes carry the cluster name; the platform team's cluster is
# shared by every team (its cost is split, e.g. by requests in business_metrics).
CLUSTER_TAG_KEY = "user_eks-cluster"
SHARED_CLUSTER_NAME = "shared-platform"
CREATED_BY_TAG_KEY = "aws_createdBy"

