"""Lists what a moto server holds, live, through the AWS APIs.

    inventory.py http://127.0.0.1:PORT eu-west-1     prints {"ec2:vpc": ["vpc-..."], ...}

moto's own /moto-api/data.json lists every object ever created, deleted ones
included, so it cannot show that a destroy left nothing; the APIs can. The
test compares the inventory after destroy with the one taken before apply, so
moto's own defaults (the default VPC and its parts, AWS-managed policies, the
default event bus) cancel out. Every type our stacks create is listed; objects
are listed with all their versions and delete markers.
"""
import json
import sys

import boto3

endpoint, region = sys.argv[1], sys.argv[2]


def client(service):
    return boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id="emulator", aws_secret_access_key="emulator")


def pages(service, operation, key, **kwargs):
    c = client(service)
    if c.can_paginate(operation):
        for page in c.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])
    else:
        yield from getattr(c, operation)(**kwargs).get(key, [])


inventory = {}


def add(kind, ids):
    inventory[kind] = sorted(str(i) for i in ids)


ec2 = "ec2"
add("ec2:vpc", (v["VpcId"] for v in pages(ec2, "describe_vpcs", "Vpcs")))
add("ec2:subnet", (s["SubnetId"] for s in pages(ec2, "describe_subnets", "Subnets")))
add("ec2:security-group", (g["GroupId"] for g in pages(ec2, "describe_security_groups", "SecurityGroups")))
add("ec2:security-group-rule", (r["SecurityGroupRuleId"] for r in pages(ec2, "describe_security_group_rules", "SecurityGroupRules")))
add("ec2:route-table", (t["RouteTableId"] for t in pages(ec2, "describe_route_tables", "RouteTables")))
add("ec2:internet-gateway", (g["InternetGatewayId"] for g in pages(ec2, "describe_internet_gateways", "InternetGateways")))
add("ec2:nat-gateway", (g["NatGatewayId"] for g in pages(ec2, "describe_nat_gateways", "NatGateways") if g["State"] not in ("deleted", "deleting")))
add("ec2:elastic-ip", (a["AllocationId"] for a in client(ec2).describe_addresses()["Addresses"]))
add("ec2:vpc-endpoint", (e["VpcEndpointId"] for e in pages(ec2, "describe_vpc_endpoints", "VpcEndpoints") if e["State"].lower() not in ("deleted", "deleting")))
add("ec2:flow-log", (f["FlowLogId"] for f in pages(ec2, "describe_flow_logs", "FlowLogs")))
add("ec2:launch-template", (t["LaunchTemplateId"] for t in pages(ec2, "describe_launch_templates", "LaunchTemplates")))
add("ec2:instance", (i["InstanceId"] for r in pages(ec2, "describe_instances", "Reservations") for i in r["Instances"] if i["State"]["Name"] != "terminated"))
# moto keeps the network interfaces of terminated instances and deleted NAT gateways (AWS
# removes them; a VPC cannot be deleted while any is left), so only those of live VPCs count.
add("ec2:network-interface", (n["NetworkInterfaceId"] for n in pages(ec2, "describe_network_interfaces", "NetworkInterfaces") if n.get("VpcId") in inventory["ec2:vpc"]))
add("autoscaling:group", (g["AutoScalingGroupName"] for g in pages("autoscaling", "describe_auto_scaling_groups", "AutoScalingGroups")))
add("elbv2:load-balancer", (lb["LoadBalancerArn"] for lb in pages("elbv2", "describe_load_balancers", "LoadBalancers")))
add("elbv2:target-group", (tg["TargetGroupArn"] for tg in pages("elbv2", "describe_target_groups", "TargetGroups")))
add("iam:role", (r["RoleName"] for r in pages("iam", "list_roles", "Roles")))
add("iam:instance-profile", (p["InstanceProfileName"] for p in pages("iam", "list_instance_profiles", "InstanceProfiles")))
add("iam:policy", (p["Arn"] for p in pages("iam", "list_policies", "Policies", Scope="Local")))
# A destroyed key waits out its deletion window, as on AWS: only usable keys count.
kms = client("kms")
add("kms:key", (k["KeyId"] for k in pages("kms", "list_keys", "Keys") if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion"))
add("kms:alias", (a["AliasName"] for a in pages("kms", "list_aliases", "Aliases") if not a["AliasName"].startswith("alias/aws/")))
add("logs:log-group", (g["logGroupName"] for g in pages("logs", "describe_log_groups", "logGroups")))
add("cloudwatch:alarm", (a["AlarmName"] for a in pages("cloudwatch", "describe_alarms", "MetricAlarms")))
add("cloudwatch:dashboard", (d["DashboardName"] for d in pages("cloudwatch", "list_dashboards", "DashboardEntries")))
add("events:rule", (r["Name"] for r in pages("events", "list_rules", "Rules")))
add("sns:topic", (t["TopicArn"] for t in pages("sns", "list_topics", "Topics")))
add("sns:subscription", (s["SubscriptionArn"] for s in pages("sns", "list_subscriptions", "Subscriptions")))
add("sqs:queue", client("sqs").list_queues().get("QueueUrls", []))
# A destroyed secret waits out its recovery window, as on AWS: list_secrets leaves it out.
add("secretsmanager:secret", (s["Name"] for s in pages("secretsmanager", "list_secrets", "SecretList")))
add("ssm:parameter", (p["Name"] for p in pages("ssm", "describe_parameters", "Parameters")))
add("route53:hosted-zone", (z["Id"] for z in pages("route53", "list_hosted_zones", "HostedZones")))
buckets = [b["Name"] for b in client("s3").list_buckets().get("Buckets", [])]
add("s3:bucket", buckets)
s3 = client("s3")
objects = []
for bucket in buckets:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects += [f"{bucket}/{v['Key']}@{v['VersionId']}" for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
add("s3:object-version", objects)
json.dump(inventory, sys.stdout)
