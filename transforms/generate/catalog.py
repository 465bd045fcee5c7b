"""The price list of the synthetic bill: regions, services and their SKUs.

Fixed (not seed-dependent), so that every generated bill prices the same usage the same way.
Rates are us-east-1 public on-demand list prices (rounded, late-2020s); other regions apply a
price factor. A SKU here is one priced usage type: an EC2 instance type and operating system,
an EBS volume type, an S3 storage class, and so on.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

# Stream kinds: what one resource-level usage stream is (drives sampling and resource ids).
EC2, EBS, SNAPSHOT, RDS, S3_STORAGE, S3_REQUESTS, LAMBDA, DATA_TRANSFER, NAT, EKS, ELASTICACHE, OPENSEARCH = range(12)
# Share of resource streams per kind (normalized when sampling).
KIND_WEIGHTS: tuple[float, ...] = (0.36, 0.13, 0.03, 0.07, 0.07, 0.04, 0.07, 0.06, 0.04, 0.01, 0.03, 0.02)

# Usage profiles: how line_item_usage_amount evolves hour by hour.
HOURLY = 0     # one unit per hour (instance hours, cluster hours)
STORAGE = 1    # GB-Mo accrued per hour by a provisioned size that grows slowly
VARIABLE = 2   # requests, bytes, GB-seconds: daily and weekly pattern plus noise

SERVICE_NAMES: dict[str, str] = {
    "AmazonEC2": "Amazon Elastic Compute Cloud",
    "AmazonRDS": "Amazon Relational Database Service",
    "AmazonS3": "Amazon Simple Storage Service",
    "AWSLambda": "AWS Lambda",
    "AWSDataTransfer": "AWS Data Transfer",
    "AmazonEKS": "Amazon Elastic Container Service for Kubernetes",
    "AmazonElastiCache": "Amazon ElastiCache",
    "AmazonES": "Amazon OpenSearch Service",
    "ComputeSavingsPlans": "Savings Plans for AWS Compute usage",
    "AWSSupportBusiness": "AWS Support (Business)",
}


@dataclass(frozen=True)
class Region:
    code: str
    prefix: str  # usage type prefix, e.g. USW2
    location: str
    price_factor: float


REGIONS: tuple[Region, ...] = (
    Region("us-east-1", "USE1", "US East (N. Virginia)", 1.0),
    Region("us-west-2", "USW2", "US West (Oregon)", 1.0),
    Region("eu-west-1", "EU", "EU (Ireland)", 1.1),
    Region("eu-central-1", "EUC1", "EU (Frankfurt)", 1.15),
)
# Where each payer's accounts run (region index, weight).
PAYER_REGIONS: dict[str, tuple[tuple[int, float], ...]] = {
    "111111111111": ((0, 0.7), (1, 0.3)),
    "222222222222": ((2, 0.7), (3, 0.3)),
}


@dataclass(frozen=True)
class Sku:
    kind: int
    service_code: str
    product_family: str
    usage_type: str  # without the region prefix, e.g. BoxUsage:m5.large
    operation: str
    unit: str
    od_rate: float  # us-east-1 public on-demand rate per unit
    profile: int
    # Per-stream mean usage per hour is drawn log-uniformly in this range; for STORAGE it is the
    # provisioned size in GB (usage per hour = size / hours in the month).
    usage_range: tuple[float, float]
    description: str  # format string with {rate}
    attrs: tuple[tuple[str, str], ...] = ()  # product map entries beyond name/region/servicename
    instance_type: str = ""
    instance_family: str = ""  # product_instance_family, e.g. General purpose
    normalization_factor: float = 0.0
    weight: float = 1.0  # relative frequency within its kind
    spot_ok: bool = False
    sp_ok: bool = False
    ri_ok: bool = False
    # us-east-1 usage types of EC2 instances, EBS, RDS and S3 carry no region prefix.
    prefix_in_use1: bool = True
    transfer: str = ""  # data transfer direction: "intra" (inter-AZ) or "out" (to the internet)
    windows: bool = False
    # Processor family for commitment discounts: intel, amd, graviton or "" (not compute).
    processor: str = ""
    key: str = field(default="", compare=False)


_SIZES = (("large", 2, 4.0, 1, 0.40), ("xlarge", 4, 8.0, 2, 0.30), ("2xlarge", 8, 16.0, 4, 0.20), ("4xlarge", 16, 32.0, 8, 0.10))
# family, processor family, physical processor, product_instance_family, large-size Linux rate,
# current generation, weight
_EC2_FAMILIES = (
    ("m5", "intel", "Intel Xeon Platinum 8175", "General purpose", 0.096, True, 0.18),
    ("c5", "intel", "Intel Xeon Platinum 8124M", "Compute optimized", 0.085, True, 0.12),
    ("r5", "intel", "Intel Xeon Platinum 8175", "Memory optimized", 0.126, True, 0.10),
    ("m4", "intel", "Intel Xeon E5-2676 v3 (Haswell)", "General purpose", 0.100, False, 0.05),
    ("c4", "intel", "Intel Xeon E5-2666 v3 (Haswell)", "Compute optimized", 0.100, False, 0.03),
    ("m5a", "amd", "AMD EPYC 7571", "General purpose", 0.086, True, 0.08),
    ("c6a", "amd", "AMD EPYC 7R13 Processor", "Compute optimized", 0.0765, True, 0.07),
    ("m6g", "graviton", "AWS Graviton2 Processor", "General purpose", 0.077, True, 0.10),
    ("m7g", "graviton", "AWS Graviton3 Processor", "General purpose", 0.0816, True, 0.10),
    ("c7g", "graviton", "AWS Graviton3 Processor", "Compute optimized", 0.0725, True, 0.09),
    ("r7g", "graviton", "AWS Graviton3 Processor", "Memory optimized", 0.1071, True, 0.08),
)
_GIB_PER_VCPU = {"General purpose": 4, "Compute optimized": 2, "Memory optimized": 8}
WINDOWS_RATE_PER_VCPU = 0.046
# Reserved-instance candidates: current-generation Linux families that teams commit to.
_RI_FAMILIES = frozenset({"m5", "c5", "r5", "m6g", "m7g"})


def _ec2_skus() -> list[Sku]:
    out = []
    for fam, proc, cpu, fam_name, rate, current, fam_w in _EC2_FAMILIES:
        for size, vcpu, nf, mult, size_w in _SIZES:
            itype = f"{fam}.{size}"
            for windows in (False, True):
                if windows and proc == "graviton":
                    continue
                os_name = "Windows" if windows else "Linux"
                od = round(rate * mult + (WINDOWS_RATE_PER_VCPU * vcpu if windows else 0.0), 4)
                out.append(Sku(
                    kind=EC2, service_code="AmazonEC2", product_family="Compute Instance",
                    usage_type=f"BoxUsage:{itype}", operation="RunInstances:0002" if windows else "RunInstances",
                    unit="Hrs", od_rate=od, profile=HOURLY, usage_range=(1.0, 1.0),
                    description="${rate} per On Demand " + os_name + " " + itype + " Instance Hour",
                    attrs=(
                        ("physical_processor", cpu), ("operating_system", os_name), ("vcpu", str(vcpu)),
                        ("memory", f"{_GIB_PER_VCPU[fam_name] * vcpu} GiB"),
                        ("current_generation", "Yes" if current else "No"),
                        # Dropped by AWS from the price list: present in the first month only.
                        ("ecu", str(round(vcpu * 4.5, 1)) if proc != "graviton" else "NA"),
                    ),
                    instance_type=itype, instance_family=fam_name, normalization_factor=nf,
                    weight=fam_w * size_w * (0.1 if windows else (0.9 if proc != "graviton" else 1.0)),
                    spot_ok=not windows, sp_ok=True, ri_ok=(fam in _RI_FAMILIES and not windows),
                    prefix_in_use1=False, windows=windows, processor=proc,
                ))
    return out


# type, physical processor, vcpu, GiB, single-AZ PostgreSQL rate, processor family, weight
_RDS_TYPES = (
    ("db.r5.large", "Intel Xeon Platinum 8175", 2, 16, 0.250, "intel", 0.22),
    ("db.r7g.large", "AWS Graviton3", 2, 16, 0.239, "graviton", 0.20),
    ("db.m5.large", "Intel Xeon Platinum 8175", 2, 8, 0.178, "intel", 0.18),
    ("db.m6g.large", "AWS Graviton2", 2, 8, 0.159, "graviton", 0.14),
    ("db.r5.xlarge", "Intel Xeon Platinum 8175", 4, 32, 0.500, "intel", 0.12),
    ("db.r7g.xlarge", "AWS Graviton3", 4, 32, 0.478, "graviton", 0.14),
)


def _rds_skus() -> list[Sku]:
    out = []
    for itype, cpu, vcpu, mem, rate, proc, w in _RDS_TYPES:
        fam = itype.split(".")[1]
        for multi in (False, True):
            dep = "Multi-AZ" if multi else "Single-AZ"
            out.append(Sku(
                kind=RDS, service_code="AmazonRDS", product_family="Database Instance",
                usage_type=("Multi-AZUsage:" if multi else "InstanceUsage:") + itype,
                operation="CreateDBInstance:0014", unit="Hrs", od_rate=round(rate * (2 if multi else 1), 4),
                profile=HOURLY, usage_range=(1.0, 1.0),
                description="${rate} per RDS " + itype + " " + dep + " instance hour (or partial hour) running PostgreSQL",
                attrs=(
                    ("database_engine", "PostgreSQL"), ("deployment_option", dep),
                    ("instance_type_family", fam), ("physical_processor", cpu), ("vcpu", str(vcpu)),
                    ("memory", f"{mem} GiB"), ("current_generation", "Yes"),
                ),
                instance_type=itype, instance_family="Memory optimized" if fam.startswith("r") else "General purpose",
                normalization_factor=4.0 * vcpu / 2, weight=w * (0.4 if multi else 0.6) * 0.85,
                ri_ok=True, prefix_in_use1=False, processor=proc,
            ))
    out.append(Sku(
        kind=RDS, service_code="AmazonRDS", product_family="Database Storage", usage_type="RDS:GP2-Storage",
        operation="CreateDBInstance:0014", unit="GB-Mo", od_rate=0.115, profile=STORAGE, usage_range=(50, 4000),
        description="${rate} per GB-month of provisioned gp2 storage running PostgreSQL",
        attrs=(("database_engine", "PostgreSQL"), ("volume_type", "General Purpose"), ("storage_media", "SSD")),
        weight=0.15, prefix_in_use1=False,
    ))
    return out


def _storage_skus() -> list[Sku]:
    out = []
    for api, rate, w in (("gp2", 0.10, 0.4), ("gp3", 0.08, 0.6)):
        out.append(Sku(
            kind=EBS, service_code="AmazonEC2", product_family="Storage", usage_type=f"EBS:VolumeUsage.{api}",
            operation=f"CreateVolume-{api.capitalize()}", unit="GB-Mo", od_rate=rate, profile=STORAGE,
            usage_range=(20, 2000),
            description="${rate} per GB-month of General Purpose SSD (" + api + ") provisioned storage",
            attrs=(("volume_api_name", api), ("volume_type", "General Purpose"), ("storage_media", "SSD-backed"),
                   ("max_iopsvolume", "16000")),
            weight=w, prefix_in_use1=False,
        ))
    out.append(Sku(
        kind=SNAPSHOT, service_code="AmazonEC2", product_family="Storage Snapshot", usage_type="EBS:SnapshotUsage",
        operation="CreateSnapshot", unit="GB-Mo", od_rate=0.05, profile=STORAGE, usage_range=(50, 5000),
        description="${rate} per GB-Month of snapshot data stored", attrs=(("storage_media", "Amazon S3"),),
        prefix_in_use1=False,
    ))
    for ut, op, rate, cls, vol, w in (
        ("TimedStorage-ByteHrs", "StandardStorage", 0.023, "General Purpose", "Standard", 0.50),
        ("TimedStorage-SIA-ByteHrs", "StandardIAStorage", 0.0125, "Infrequent Access", "Standard - Infrequent Access", 0.20),
        ("TimedStorage-INT-FA-ByteHrs", "IntelligentTieringFAStorage", 0.023, "Intelligent-Tiering", "Intelligent-Tiering Frequent Access", 0.15),
        ("TimedStorage-GlacierByteHrs", "GlacierStorage", 0.0036, "Archive", "Amazon Glacier", 0.10),
        ("TimedStorage-GDA-ByteHrs", "DeepArchiveStorage", 0.00099, "Archive", "Glacier Deep Archive", 0.05),
    ):
        out.append(Sku(
            kind=S3_STORAGE, service_code="AmazonS3", product_family="Storage", usage_type=ut, operation=op,
            unit="GB-Mo", od_rate=rate, profile=STORAGE, usage_range=(50, 50_000),
            description="${rate} per GB-Month of storage used in " + vol,
            attrs=(("storage_class", cls), ("volume_type", vol), ("durability", "99.999999999%")),
            weight=w, prefix_in_use1=False,
        ))
    for ut, op, rate, group, w in (
        ("Requests-Tier1", "PutObject", 0.000005, "S3-API-Tier1", 0.4),
        ("Requests-Tier2", "GetObject", 0.0000004, "S3-API-Tier2", 0.6),
    ):
        out.append(Sku(
            kind=S3_REQUESTS, service_code="AmazonS3", product_family="API Request", usage_type=ut, operation=op,
            unit="Requests", od_rate=rate, profile=VARIABLE, usage_range=(1e3, 1e6),
            description="${rate} per request (" + group + ")", attrs=(("group", group),),
            weight=w, prefix_in_use1=False,
        ))
    return out


def _serverless_and_network_skus() -> list[Sku]:
    out = []
    for ut, unit, rate, group, rng, proc, w in (
        ("Lambda-GB-Second", "Lambda-GB-Second", 0.0000166667, "AWS-Lambda-Duration", (50, 50_000), "x86_64", 0.35),
        ("Lambda-GB-Second-ARM", "Lambda-GB-Second", 0.0000133334, "AWS-Lambda-Duration-ARM", (50, 50_000), "arm64", 0.25),
        ("Request", "Requests", 0.0000002, "AWS-Lambda-Requests", (1e3, 1e6), "x86_64", 0.25),
        ("Request-ARM", "Requests", 0.0000002, "AWS-Lambda-Requests-ARM", (1e3, 1e6), "arm64", 0.15),
    ):
        out.append(Sku(
            kind=LAMBDA, service_code="AWSLambda", product_family="Serverless", usage_type=ut, operation="Invoke",
            unit=unit, od_rate=rate, profile=VARIABLE, usage_range=rng,
            description="AWS Lambda - " + ("Total Compute" if "GB" in ut else "Total Requests") + " - ${rate}",
            attrs=(("group", group), ("processor_architecture", proc)), weight=w,
        ))
    out.append(Sku(
        kind=DATA_TRANSFER, service_code="AmazonEC2", product_family="Data Transfer",
        usage_type="DataTransfer-Regional-Bytes", operation="InterZone-In", unit="GB", od_rate=0.01,
        profile=VARIABLE, usage_range=(0.5, 200), description="${rate} per GB - regional data transfer - in/out/between EC2 AZs or using elastic IPs or ELB",
        attrs=(("transfer_type", "IntraRegion"),), weight=0.6, transfer="intra",
    ))
    out.append(Sku(
        kind=DATA_TRANSFER, service_code="AWSDataTransfer", product_family="Data Transfer",
        usage_type="DataTransfer-Out-Bytes", operation="RunInstances", unit="GB", od_rate=0.09,
        profile=VARIABLE, usage_range=(0.05, 20), description="${rate} per GB - first 10 TB / month data transfer out beyond the global free tier",
        attrs=(("transfer_type", "AWS Outbound"),), weight=0.4, transfer="out",
    ))
    out.append(Sku(
        kind=NAT, service_code="AmazonEC2", product_family="NAT Gateway", usage_type="NatGateway-Hours",
        operation="NatGateway", unit="Hrs", od_rate=0.045, profile=HOURLY, usage_range=(1.0, 1.0),
        description="${rate} per NAT Gateway Hour", attrs=(("group", "NGW:NatGateway"),), weight=0.5,
    ))
    out.append(Sku(
        kind=NAT, service_code="AmazonEC2", product_family="NAT Gateway", usage_type="NatGateway-Bytes",
        operation="NatGateway", unit="GB", od_rate=0.045, profile=VARIABLE, usage_range=(0.1, 50),
        description="${rate} per GB Data Processed by NAT Gateways", attrs=(("group", "NGW:NatGateway"),), weight=0.5,
    ))
    out.append(Sku(
        kind=EKS, service_code="AmazonEKS", product_family="Compute", usage_type="AmazonEKS-Hours:perCluster",
        operation="CreateOperation", unit="Hrs", od_rate=0.10, profile=HOURLY, usage_range=(1.0, 1.0),
        description="Amazon EKS cluster usage - ${rate} per hour",
    ))
    for itype, cpu, rate, proc, w in (
        ("cache.r7g.large", "AWS Graviton3", 0.219, "graviton", 0.3),
        ("cache.r5.large", "Intel Xeon Platinum 8175", 0.216, "intel", 0.3),
        ("cache.m6g.large", "AWS Graviton2", 0.149, "graviton", 0.2),
        ("cache.m5.large", "Intel Xeon Platinum 8175", 0.156, "intel", 0.2),
    ):
        fam = itype.split(".")[1]
        out.append(Sku(
            kind=ELASTICACHE, service_code="AmazonElastiCache", product_family="Cache Instance",
            usage_type=f"NodeUsage:{itype}", operation="CreateCacheCluster:0002", unit="Hrs", od_rate=rate,
            profile=HOURLY, usage_range=(1.0, 1.0), description="${rate} per Redis " + itype + " node-hour (or partial hour)",
            attrs=(("cache_engine", "Redis"), ("instance_type_family", fam), ("physical_processor", cpu),
                   ("current_generation", "Yes")),
            instance_type=itype, instance_family="Memory optimized" if fam.startswith("r") else "Standard",
            weight=w, processor=proc,
        ))
    for itype, cpu, rate, proc, w in (
        ("r6g.large.search", "AWS Graviton2 Processor", 0.167, "graviton", 0.6),
        ("m5.large.search", "Intel Xeon Platinum 8175", 0.142, "intel", 0.4),
    ):
        fam = itype.split(".")[0]
        out.append(Sku(
            kind=OPENSEARCH, service_code="AmazonES", product_family="Amazon OpenSearch Service Instance",
            usage_type=f"ESInstance:{itype.removesuffix('.search')}", operation="ESDomain", unit="Hrs", od_rate=rate,
            profile=HOURLY, usage_range=(1.0, 1.0), description="${rate} per " + itype + " instance hour (or partial hour)",
            attrs=(("instance_type_family", fam), ("physical_processor", cpu), ("current_generation", "Yes")),
            instance_type=itype, instance_family="General purpose", weight=w, processor=proc,
        ))
    return out


def _with_keys(skus: list[Sku]) -> tuple[Sku, ...]:
    out = []
    for s in skus:
        key = f"{s.service_code}:{s.usage_type}:{s.operation}"
        out.append(dataclasses.replace(s, key=key))
    keys = [s.key for s in out]
    assert len(set(keys)) == len(keys), "SKU keys must be unique"
    return tuple(out)


SKUS: tuple[Sku, ...] = _with_keys(_ec2_skus() + _rds_skus() + _storage_skus() + _serverless_and_network_skus())
SKU_INDEX: dict[str, int] = {s.key: i for i, s in enumerate(SKUS)}

# Commitment discounts off the public rate, by processor family.
SP_DISCOUNT: dict[str, float] = {"intel": 0.28, "amd": 0.30, "graviton": 0.33}
RI_DISCOUNT = 0.38
SP_TERM = "1yr"
SP_PAYMENT = "No Upfront"
RI_PAYMENT = "Partial Upfront"


def region_rate(sku: Sku, region: int) -> float:
    """The public on-demand rate of ``sku`` in ``region`` (4 significant decimals kept)."""
    rate = sku.od_rate * REGIONS[region].price_factor
    return float(f"{rate:.6g}")


def usage_type(sku: Sku, region: int, spot: bool = False) -> str:
    base = sku.usage_type.replace("BoxUsage:", "SpotUsage:") if spot else sku.usage_type
    if region == 0 and not sku.prefix_in_use1:
        return base
    return f"{REGIONS[region].prefix}-{base}"


def sku_code(sku: Sku, region: int) -> str:
    """A stable 16-character product SKU, like AWS's ``product_sku``."""
    digest = hashlib.sha1(f"{sku.key}|{REGIONS[region].code}".encode()).hexdigest().upper()
    return "".join(c if c.isalpha() else chr(ord("A") + int(c)) for c in digest[:16])


def rate_id(sku: Sku, region: int) -> str:
    digest = hashlib.sha1(f"rate|{sku.key}|{REGIONS[region].code}".encode()).hexdigest()
    return str(int(digest[:10], 16))[:11]
