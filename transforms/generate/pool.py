"""The resource pool: an endless, seed-determined sequence of usage streams.

A stream is one resource's usage of one SKU (an instance's BoxUsage hours, a bucket's storage
class, a function's GB-seconds): one line item per hour while it is active. Attributes that do
not depend on the month (service, SKU, account, team, tags, purchase option, resource id) are
drawn here, in fixed-size chunks from their own random streams, so stream ``i`` is the same
resource in every month and for every ``rows_per_month``: a month takes a prefix of the pool
(see ``month_plan``), and long-lived resources keep their ids from one month to the next.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import numpy as np

from transforms.generate import catalog as cat
from transforms.generate import org

CHUNK = 4096

# Purchase options of a stream.
ON_DEMAND, SPOT, SAVINGS_PLAN, RESERVED = range(4)

ACCOUNT_INDEX: dict[str, int] = {a.name: i for i, a in enumerate(org.ACCOUNTS)}
TEAM_INDEX: dict[str, int] = {t.name: i for i, t in enumerate(org.TEAMS)}
PAYER_INDEX: dict[str, int] = {p: i for i, p in enumerate(org.PAYERS)}
ACCOUNT_PAYER = np.array([PAYER_INDEX[a.payer_id] for a in org.ACCOUNTS], dtype=np.int8)
PLATFORM = TEAM_INDEX[org.SHARED_TEAM]

# Where each team runs its resources: (account name, weight). Accounts with an owner only host
# their owner; the others are shared by several teams.
_STOREFRONT = (("storefront-prod", 0.55), ("storefront-staging", 0.15), ("emea-storefront-prod", 0.25), ("emea-dev-sandbox", 0.05))
_MARKETPLACE = (("marketplace-prod", 0.8), ("emea-dev-sandbox", 0.2))
TEAM_ACCOUNTS: dict[str, tuple[tuple[str, float], ...]] = {
    "checkout": _STOREFRONT, "search": _STOREFRONT, "payments": _STOREFRONT,
    "catalog": _MARKETPLACE, "identity": _MARKETPLACE, "mobile-api": _MARKETPLACE,
    "ads": (("ads-prod", 0.9), ("emea-dev-sandbox", 0.1)),
    "recommendations": (("marketplace-prod", 0.5), ("emea-storefront-prod", 0.3), ("emea-dev-sandbox", 0.2)),
    "data-platform": (("data-lake", 0.9), ("emea-dev-sandbox", 0.1)),
    "ml-platform": (("ml-training", 0.9), ("emea-dev-sandbox", 0.1)),
    "notifications": (("storefront-prod", 0.5), ("marketplace-prod", 0.5)),
    "platform": (("shared-network", 0.35), ("emea-shared-eks", 0.30), ("org-management", 0.10),
                 ("emea-management", 0.05), ("storefront-prod", 0.10), ("marketplace-prod", 0.10)),
}
# Environment tag of an account's resources: (environment index, weight).
_PROD, _STAGING, _DEV = range(3)
ACCOUNT_ENVIRONMENTS: dict[str, tuple[tuple[int, float], ...]] = {
    "storefront-staging": ((_STAGING, 1.0),),
    "emea-dev-sandbox": ((_DEV, 1.0),),
    "data-lake": ((_PROD, 0.7), (_DEV, 0.3)),
    "ml-training": ((_PROD, 0.6), (_DEV, 0.4)),
}
# Kinds that mostly belong to the platform team (shared networking, EKS control planes).
PLATFORM_SHARE: dict[int, float] = {cat.EKS: 0.7, cat.NAT: 0.6, cat.DATA_TRANSFER: 0.3}
# Probability that a stream runs the whole month (else it lives a random number of hours).
LONG_LIVED: dict[int, float] = {
    cat.EC2: 0.5, cat.EBS: 0.85, cat.SNAPSHOT: 1.0, cat.RDS: 0.95, cat.S3_STORAGE: 1.0, cat.S3_REQUESTS: 1.0,
    cat.LAMBDA: 0.9, cat.DATA_TRANSFER: 0.9, cat.NAT: 1.0, cat.EKS: 1.0, cat.ELASTICACHE: 0.95, cat.OPENSEARCH: 0.95,
}
LONG_LIVED_COMMITTED = 0.85  # EC2 under a Savings Plan or reservation: steady baseline fleet
# How readily a kind is left untagged (weights of the untagged draw; 0 = always tagged).
UNTAGGED_PROPENSITY: dict[int, float] = {
    cat.EC2: 1.0, cat.EBS: 1.5, cat.SNAPSHOT: 3.0, cat.RDS: 0.7, cat.S3_STORAGE: 2.0, cat.S3_REQUESTS: 2.0,
    cat.LAMBDA: 1.2, cat.DATA_TRANSFER: 4.0, cat.NAT: 3.0, cat.EKS: 0.0, cat.ELASTICACHE: 0.8, cat.OPENSEARCH: 0.8,
}
AZ_KINDS = frozenset({cat.EC2, cat.EBS, cat.RDS, cat.NAT, cat.ELASTICACHE, cat.OPENSEARCH, cat.DATA_TRANSFER})
TEAM_KEY_WEIGHTS = (0.75, 0.15, 0.10)  # user_team, user_Team, user_owner-team
CREATED_BY: tuple[str, ...] = (
    "IAMUser:AIDAEXAMPLEDEPLOYER:deployer",
    "AssumedRole:AROAEXAMPLETERRAFORM:terraform",
    "AssumedRole:AROAEXAMPLECICD:github-actions",
)
SHARED_CLUSTER, TEAM_CLUSTER, NO_CLUSTER = 0, 1, -1

# Streams every month starts with, so that even the smallest bill holds every service, processor,
# line item type and purchase option: (SKU key, purchase option, payer index or None, team or None).
_FORCED: tuple[tuple[str, int, int | None, str | None], ...] = (
    ("AmazonEC2:BoxUsage:m5.large:RunInstances", ON_DEMAND, None, None),
    ("AmazonEC2:BoxUsage:m5a.large:RunInstances", ON_DEMAND, None, None),
    ("AmazonEC2:BoxUsage:m7g.large:RunInstances", ON_DEMAND, None, None),
    ("AmazonEC2:BoxUsage:m5.xlarge:RunInstances:0002", ON_DEMAND, None, None),
    ("AmazonEC2:BoxUsage:c5.large:RunInstances", SPOT, None, None),
    ("AmazonEC2:BoxUsage:m6g.large:RunInstances", SAVINGS_PLAN, 0, None),
    ("AmazonEC2:BoxUsage:c6a.large:RunInstances", SAVINGS_PLAN, 1, None),
    ("AmazonEC2:BoxUsage:m5.large:RunInstances", RESERVED, 0, None),
    ("AmazonEC2:BoxUsage:m4.large:RunInstances", ON_DEMAND, None, None),
    ("AmazonRDS:InstanceUsage:db.r7g.large:CreateDBInstance:0014", RESERVED, None, None),
    ("AmazonRDS:InstanceUsage:db.m5.large:CreateDBInstance:0014", ON_DEMAND, None, None),
    ("AmazonEC2:EBS:VolumeUsage.gp2:CreateVolume-Gp2", ON_DEMAND, None, None),
    ("AmazonEC2:EBS:VolumeUsage.gp3:CreateVolume-Gp3", ON_DEMAND, None, None),
    ("AmazonEC2:EBS:SnapshotUsage:CreateSnapshot", ON_DEMAND, None, None),
    ("AmazonS3:TimedStorage-ByteHrs:StandardStorage", ON_DEMAND, None, None),
    ("AmazonS3:TimedStorage-SIA-ByteHrs:StandardIAStorage", ON_DEMAND, None, None),
    ("AmazonS3:TimedStorage-GlacierByteHrs:GlacierStorage", ON_DEMAND, None, None),
    ("AmazonS3:Requests-Tier1:PutObject", ON_DEMAND, None, None),
    ("AWSLambda:Lambda-GB-Second:Invoke", ON_DEMAND, 0, "checkout"),
    ("AWSLambda:Lambda-GB-Second-ARM:Invoke", ON_DEMAND, None, None),
    ("AmazonEKS:AmazonEKS-Hours:perCluster:CreateOperation", ON_DEMAND, 1, "platform"),
    ("AmazonEC2:NatGateway-Hours:NatGateway", ON_DEMAND, None, None),
    ("AmazonEC2:NatGateway-Bytes:NatGateway", ON_DEMAND, None, None),
    ("AmazonEC2:DataTransfer-Regional-Bytes:InterZone-In", ON_DEMAND, None, None),
    ("AWSDataTransfer:DataTransfer-Out-Bytes:RunInstances", ON_DEMAND, None, None),
    ("AmazonElastiCache:NodeUsage:cache.r7g.large:CreateCacheCluster:0002", ON_DEMAND, None, None),
    ("AmazonES:ESInstance:r6g.large:ESDomain", ON_DEMAND, None, None),
)
FORCED_COUNT = len(_FORCED)
# The forced stream whose (account, service) the exact-count filler streams reuse.
FILLER_TEMPLATE = 18

_SKU_KIND = np.array([s.kind for s in cat.SKUS], dtype=np.int8)
_SKU_HOURLY = np.array([s.profile == cat.HOURLY for s in cat.SKUS])


def _team_accounts(team: int) -> tuple[np.ndarray, np.ndarray]:
    pairs = TEAM_ACCOUNTS[org.TEAMS[team].name]
    accounts = np.array([ACCOUNT_INDEX[a] for a, _ in pairs])
    weights = np.array([w for _, w in pairs])
    return accounts, weights / weights.sum()


@dataclass
class StreamPool:
    """Month-independent attributes of the first ``len(self)`` streams of a seed's pool."""

    seed: int
    sku: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    account: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    team: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    region: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    az: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    purchase: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    mean_usage: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spot_factor: np.ndarray = field(default_factory=lambda: np.zeros(0))
    long_lived: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    untagged_key: np.ndarray = field(default_factory=lambda: np.zeros(0))
    team_key: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    has_product: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    environment: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    has_cost_center: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    has_application: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    created_by: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    resource_id: list[str] = field(default_factory=list)
    line_item_id: list[str] = field(default_factory=list)
    negation_id: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sku)

    def ensure(self, n: int) -> None:
        """Extend the pool to at least ``n`` streams (whole chunks; earlier streams never change)."""
        while len(self) < n:
            chunk = _draw_chunk(self.seed, len(self) // CHUNK)
            for name, values in chunk.items():
                current = getattr(self, name)
                if isinstance(current, list):
                    current.extend(values)
                else:
                    setattr(self, name, np.concatenate([current, values]))


def _draw_chunk(seed: int, chunk: int) -> dict[str, object]:
    rng = np.random.default_rng([seed, 1, chunk])
    n = CHUNK
    kind_w = np.array(cat.KIND_WEIGHTS) / sum(cat.KIND_WEIGHTS)
    kind = rng.choice(len(kind_w), size=n, p=kind_w)
    sku = np.zeros(n, dtype=np.int16)
    for k in range(len(kind_w)):
        idx = np.nonzero(kind == k)[0]
        members = np.nonzero(_SKU_KIND == k)[0]
        w = np.array([cat.SKUS[i].weight for i in members])
        sku[idx] = rng.choice(members, size=len(idx), p=w / w.sum())

    u = rng.random(n)
    purchase = np.full(n, ON_DEMAND, dtype=np.int8)
    spot_ok = np.array([cat.SKUS[s].spot_ok for s in sku])
    sp_ok = np.array([cat.SKUS[s].sp_ok for s in sku])
    ri_ok = np.array([cat.SKUS[s].ri_ok for s in sku])
    is_ec2 = kind == cat.EC2
    purchase[is_ec2 & ri_ok & (u < 0.12)] = RESERVED
    purchase[is_ec2 & sp_ok & (u >= 0.12) & (u < 0.47)] = SAVINGS_PLAN
    purchase[is_ec2 & spot_ok & (u >= 0.47) & (u < 0.62)] = SPOT
    purchase[(kind == cat.RDS) & ri_ok & (u < 0.4)] = RESERVED

    team_w = np.array([t.weight for t in org.TEAMS])
    team = rng.choice(len(team_w), size=n, p=team_w / team_w.sum()).astype(np.int8)
    to_platform = rng.random(n) < np.array([PLATFORM_SHARE.get(int(k), 0.0) for k in kind])
    team[to_platform] = PLATFORM

    if chunk == 0:
        _force(sku, purchase, team)
        kind = _SKU_KIND[sku].astype(np.int64)
        is_ec2 = kind == cat.EC2

    account = np.zeros(n, dtype=np.int8)
    pick = rng.random(n)
    for t in range(len(org.TEAMS)):
        idx = np.nonzero(team == t)[0]
        accounts, w = _team_accounts(t)
        account[idx] = accounts[np.searchsorted(np.cumsum(w), pick[idx], side="right").clip(max=len(w) - 1)]
    if chunk == 0:
        _force_payers(account, team)

    payer = ACCOUNT_PAYER[account]
    region = np.zeros(n, dtype=np.int8)
    pick = rng.random(n)
    for p, payer_id in enumerate(org.PAYERS):
        idx = np.nonzero(payer == p)[0]
        regs = cat.PAYER_REGIONS[payer_id]
        cum = np.cumsum([w for _, w in regs])
        region[idx] = np.array([r for r, _ in regs])[np.searchsorted(cum, pick[idx], side="right").clip(max=len(regs) - 1)]
    az = np.where(np.isin(kind, list(AZ_KINDS)), rng.integers(0, 3, n), -1).astype(np.int8)

    lo = np.array([cat.SKUS[s].usage_range[0] for s in sku])
    hi = np.array([cat.SKUS[s].usage_range[1] for s in sku])
    mean_usage = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    mean_usage = np.where(_SKU_HOURLY[sku], 1.0, np.round(mean_usage, 3))
    spot_factor = np.round(rng.uniform(0.28, 0.45, n), 2)

    p_long = np.array([LONG_LIVED[int(k)] for k in kind])
    p_long = np.where(is_ec2 & ((purchase == SAVINGS_PLAN) | (purchase == RESERVED)), LONG_LIVED_COMMITTED, p_long)
    p_long = np.where(purchase == SPOT, 0.0, p_long)
    long_lived = rng.random(n) < p_long

    propensity = np.array([UNTAGGED_PROPENSITY[int(k)] for k in kind])
    with np.errstate(divide="ignore"):
        untagged_key = np.where(propensity > 0, np.log(rng.random(n)) / np.maximum(propensity, 1e-9), -np.inf)

    team_key = rng.choice(3, size=n, p=TEAM_KEY_WEIGHTS).astype(np.int8)
    environment = np.zeros(n, dtype=np.int8)
    pick = rng.random(n)
    for name, envs in ACCOUNT_ENVIRONMENTS.items():
        idx = np.nonzero(account == ACCOUNT_INDEX[name])[0]
        cum = np.cumsum([w for _, w in envs])
        environment[idx] = np.array([e for e, _ in envs])[np.searchsorted(cum, pick[idx], side="right").clip(max=len(envs) - 1)]
    environment[rng.random(n) < 0.05] = -1
    created_by = np.where(rng.random(n) < 0.4, rng.integers(0, len(CREATED_BY), n), -1).astype(np.int8)

    cluster = np.full(n, NO_CLUSTER, dtype=np.int8)
    cluster[kind == cat.EKS] = np.where(team[kind == cat.EKS] == PLATFORM, SHARED_CLUSTER, TEAM_CLUSTER)
    worker = is_ec2 & (team == PLATFORM) & (account == ACCOUNT_INDEX["emea-shared-eks"])
    cluster[worker] = SHARED_CLUSTER

    ids = _resource_ids(rng, kind, sku, account, team, region)
    raw = rng.bytes(32 * 2 * n)
    line_ids = [base64.b32encode(raw[i * 32:(i + 1) * 32]).decode()[:52].lower() for i in range(2 * n)]
    return {
        "sku": sku, "account": account, "team": team, "region": region, "az": az, "purchase": purchase,
        "mean_usage": mean_usage, "spot_factor": spot_factor, "long_lived": long_lived,
        "untagged_key": untagged_key, "team_key": team_key, "has_product": rng.random(n) < 0.9,
        "environment": environment, "has_cost_center": rng.random(n) < 0.85,
        "has_application": rng.random(n) < 0.7, "created_by": created_by, "cluster": cluster,
        "resource_id": ids, "line_item_id": line_ids[:n], "negation_id": line_ids[n:],
    }


def _force(sku: np.ndarray, purchase: np.ndarray, team: np.ndarray) -> None:
    for i, (key, option, _payer, team_name) in enumerate(_FORCED):
        sku[i] = cat.SKU_INDEX[key]
        purchase[i] = option
        if team_name is not None:
            team[i] = TEAM_INDEX[team_name]
        elif team[i] == PLATFORM and cat.SKUS[sku[i]].kind not in PLATFORM_SHARE:
            team[i] = TEAM_INDEX["checkout"]


def _force_payers(account: np.ndarray, team: np.ndarray) -> None:
    for i, (_key, _option, payer, _team) in enumerate(_FORCED):
        if payer is None or ACCOUNT_PAYER[account[i]] == payer:
            continue
        accounts, weights = _team_accounts(int(team[i]))
        in_payer = [a for a, w in zip(accounts, weights) if ACCOUNT_PAYER[a] == payer]
        if in_payer:
            account[i] = in_payer[0]
        else:  # the team has no account under this payer: use the payer's shared sandbox
            account[i] = ACCOUNT_INDEX["emea-dev-sandbox" if payer == 1 else "storefront-prod"]
            team[i] = TEAM_INDEX["checkout"]


_PURPOSES = ("assets", "logs", "backups", "data", "artifacts", "exports", "events", "media")
_FUNCTIONS = ("api", "worker", "etl", "thumbnailer", "webhook", "scheduler", "indexer", "notifier")


def _resource_ids(rng: np.random.Generator, kind: np.ndarray, sku: np.ndarray, account: np.ndarray,
                  team: np.ndarray, region: np.ndarray) -> list[str]:
    hexes = rng.integers(0, 2**62, size=len(kind))
    words = rng.integers(0, len(_PURPOSES), size=len(kind))
    out = []
    for k, s, a, t, r, h, w in zip(kind.tolist(), sku.tolist(), account.tolist(), team.tolist(),
                                   region.tolist(), hexes.tolist(), words.tolist()):
        acct = org.ACCOUNTS[a].account_id
        reg = cat.REGIONS[r].code
        tname = org.TEAMS[t].name
        hx = f"{h:017x}"[-17:]
        if k in (cat.EC2, cat.DATA_TRANSFER):
            out.append(f"i-{hx}")
        elif k == cat.EBS:
            out.append(f"vol-{hx}")
        elif k == cat.SNAPSHOT:
            out.append(f"arn:aws:ec2:{reg}:{acct}:snapshot/snap-{hx}")
        elif k == cat.RDS:
            out.append(f"arn:aws:rds:{reg}:{acct}:db:{tname}-{_PURPOSES[w]}-{hx[:6]}")
        elif k in (cat.S3_STORAGE, cat.S3_REQUESTS):
            out.append(f"{tname}-{_PURPOSES[w]}-{hx[:8]}")
        elif k == cat.LAMBDA:
            out.append(f"arn:aws:lambda:{reg}:{acct}:function:{tname}-{_FUNCTIONS[w]}-{hx[:6]}")
        elif k == cat.NAT:
            out.append(f"arn:aws:ec2:{reg}:{acct}:natgateway/nat-{hx}")
        elif k == cat.EKS:
            name = org.SHARED_CLUSTER_NAME if t == PLATFORM else f"{tname}-eks"
            out.append(f"arn:aws:eks:{reg}:{acct}:cluster/{name}")
        elif k == cat.ELASTICACHE:
            out.append(f"arn:aws:elasticache:{reg}:{acct}:cluster:{tname}-cache-{hx[:6]}")
        else:
            out.append(f"arn:aws:es:{reg}:{acct}:domain/{tname}-search-{hx[:6]}")
    return out
