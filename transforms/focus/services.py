"""AWS services, regions and units as FOCUS 1.2 names them (ServiceCategory, RegionName, UnitFormat).

``cost_line_items`` keeps the AWS product code and region code; FOCUS wants one category and
one subcategory per ServiceName (from the spec's closed lists) and a display name per RegionId.
The tables are bound into the export SQL as parameters; a product code or region not listed
falls back to 'Other' / 'Other (Other)' and to the region id, which the spec allows.
"""

from __future__ import annotations

OTHER = ("Other", "Other (Other)")

# AWS product code (line_item_product_code) -> (ServiceCategory, ServiceSubcategory).
SERVICE_CATEGORIES: dict[str, tuple[str, str]] = {
    "AmazonEC2": ("Compute", "Virtual Machines"),
    "AWSLambda": ("Compute", "Serverless Compute"),
    "AmazonECS": ("Compute", "Containers"),
    "AmazonEKS": ("Compute", "Containers"),
    "AmazonLightsail": ("Compute", "Virtual Machines"),
    "AmazonWorkSpaces": ("Compute", "End User Computing"),
    "ComputeSavingsPlans": ("Compute", "Other (Compute)"),
    "AmazonRDS": ("Databases", "Relational Databases"),
    "AmazonAurora": ("Databases", "Relational Databases"),
    "AmazonDynamoDB": ("Databases", "NoSQL Databases"),
    "AmazonDocDB": ("Databases", "NoSQL Databases"),
    "AmazonElastiCache": ("Databases", "Caching"),
    "AmazonMemoryDB": ("Databases", "Caching"),
    "AmazonRedshift": ("Databases", "Data Warehouses"),
    "AmazonTimestream": ("Databases", "Time Series Databases"),
    "AmazonS3": ("Storage", "Object Storage"),
    "AmazonS3GlacierDeepArchive": ("Storage", "Backup Storage"),
    "AmazonGlacier": ("Storage", "Backup Storage"),
    "AmazonEFS": ("Storage", "File Storage"),
    "AmazonFSx": ("Storage", "File Storage"),
    "AWSBackup": ("Storage", "Backup Storage"),
    "AmazonES": ("Analytics", "Search"),
    "AmazonAthena": ("Analytics", "Data Processing"),
    "AWSGlue": ("Analytics", "Data Processing"),
    "ElasticMapReduce": ("Analytics", "Data Processing"),
    "AmazonKinesis": ("Analytics", "Streaming Analytics"),
    "AmazonMSK": ("Analytics", "Streaming Analytics"),
    "AmazonQuickSight": ("Analytics", "Business Intelligence"),
    "AWSDataTransfer": ("Networking", "Network Connectivity"),
    "AmazonVPC": ("Networking", "Network Infrastructure"),
    "AmazonCloudFront": ("Networking", "Content Delivery"),
    "AmazonRoute53": ("Networking", "Network Routing"),
    "AWSELB": ("Networking", "Application Networking"),
    "AWSDirectConnect": ("Networking", "Network Connectivity"),
    "AmazonApiGateway": ("Integration", "API Management"),
    "AWSQueueService": ("Integration", "Messaging"),
    "AmazonSNS": ("Integration", "Messaging"),
    "AWSStepFunctions": ("Integration", "Workflow Orchestration"),
    "AmazonSageMaker": ("AI and Machine Learning", "Machine Learning"),
    "AmazonBedrock": ("AI and Machine Learning", "Generative AI"),
    "AmazonCloudWatch": ("Management and Governance", "Observability"),
    "AWSCloudTrail": ("Management and Governance", "Compliance"),
    "AWSConfig": ("Management and Governance", "Compliance"),
    "AWSCostExplorer": ("Management and Governance", "Cost Management"),
    "AWSSupportBusiness": ("Management and Governance", "Support"),
    "AWSSupportEnterprise": ("Management and Governance", "Support"),
    "AWSDeveloperSupport": ("Management and Governance", "Support"),
    "AWSSecretsManager": ("Security", "Secret Management"),
    "awskms": ("Security", "Secret Management"),
    "AmazonGuardDuty": ("Security", "Threat Detection and Response"),
    "AWSSecurityHub": ("Security", "Security Posture Management"),
    "AWSShield": ("Networking", "Network Security"),
    "awswaf": ("Networking", "Network Security"),
    "AmazonCognito": ("Identity", "Identity and Access Management"),
    "AWSCodeBuild": ("Developer Tools", "Continuous Integration and Deployment"),
    "AWSCodePipeline": ("Developer Tools", "Continuous Integration and Deployment"),
    "AmazonECR": ("Compute", "Containers"),
}

# AWS region code -> display name as AWS's own FOCUS export writes it.
REGION_NAMES: dict[str, str] = {
    "us-east-1": "US East (N. Virginia)",
    "us-east-2": "US East (Ohio)",
    "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)",
    "ca-central-1": "Canada (Central)",
    "sa-east-1": "South America (Sao Paulo)",
    "eu-west-1": "Europe (Ireland)",
    "eu-west-2": "Europe (London)",
    "eu-west-3": "Europe (Paris)",
    "eu-central-1": "Europe (Frankfurt)",
    "eu-central-2": "Europe (Zurich)",
    "eu-north-1": "Europe (Stockholm)",
    "eu-south-1": "Europe (Milan)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
    "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-northeast-3": "Asia Pacific (Osaka)",
    "ap-southeast-1": "Asia Pacific (Singapore)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-south-1": "Asia Pacific (Mumbai)",
    "ap-east-1": "Asia Pacific (Hong Kong)",
    "me-south-1": "Middle East (Bahrain)",
    "af-south-1": "Africa (Cape Town)",
    "global": "Global",
}

# AWS pricing units (pricing_unit) -> FOCUS UnitFormat; others pass through unchanged.
PRICING_UNITS: dict[str, str] = {
    "Hrs": "Hours",
    "Hours": "Hours",
    "hours": "Hours",
    "GB-Mo": "GB-Months",
    "GB-month": "GB-Months",
    "GB-Month": "GB-Months",
    "GB-Hours": "GB-Hours",
    "Lambda-GB-Second": "GB-Seconds",
    "Lambda-GB-Second-ARM": "GB-Seconds",
    "vCPU-Hours": "vCPU-Hours",
    "IOPS-Mo": "IOPS-Months",
    "GiBps-mo": "GiBps-Months",
    "Requests": "Requests",
    "Request": "Requests",
    "Count": "Count",
    "Quantity": "Units",
}


def mapping_params() -> dict[str, list[str]]:
    """The tables above as parallel lists, bound to the export SQL's ``$service_*``, ``$region_*``, ``$unit_*``."""
    codes = sorted(SERVICE_CATEGORIES)
    regions = sorted(REGION_NAMES)
    units = sorted(PRICING_UNITS)
    return {
        "service_codes": codes,
        "service_categories": [SERVICE_CATEGORIES[c][0] for c in codes],
        "service_subcategories": [SERVICE_CATEGORIES[c][1] for c in codes],
        "region_codes": regions,
        "region_names": [REGION_NAMES[r] for r in regions],
        "unit_codes": units,
        "unit_names": [PRICING_UNITS[u] for u in units],
    }
