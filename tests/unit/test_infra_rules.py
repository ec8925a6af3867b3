"""The infrastructure rules (suites/infra_rules.py) fail on bad input and pass on good input."""
import pytest

from harness.errors import HarnessError
from harness.security_groups import flatten
from suites import infra_rules as rules

SG = "sg-123"
PORTS = {"ssh": 22, "http": 80, "https": 443, "app": 4000, "postgres": 5432}
SANDBOX, STAGING, PRODUCTION = (rules.policy_for(n) for n in ("sandbox", "staging", "production"))


def tcp(port, *cidrs, to_port=None, v6=()):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": to_port if to_port is not None else port,
            "IpRanges": [{"CidrIp": c} for c in cidrs], "Ipv6Ranges": [{"CidrIpv6": c} for c in v6],
            "UserIdGroupPairs": [], "PrefixListIds": []}


def all_traffic(cidr):
    return {"IpProtocol": "-1", "IpRanges": [{"CidrIp": cidr}], "Ipv6Ranges": [], "UserIdGroupPairs": [],
            "PrefixListIds": []}


def good(ssh="0.0.0.0/0", expose=False):
    entries = [tcp(22, ssh), tcp(80, "0.0.0.0/0"), tcp(443, "0.0.0.0/0")]
    if expose:
        entries.append(tcp(4000, "0.0.0.0/0"))
    return flatten(SG, entries)


# --- flatten ------------------------------------------------------------------------------------


def test_flatten_one_permission_per_source_and_all_traffic():
    entries = [tcp(22, "10.0.0.0/8", "192.0.2.1/32", v6=["::/0"]),
               all_traffic("0.0.0.0/0"),
               {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": [],
                "UserIdGroupPairs": [{"GroupId": "sg-other"}], "PrefixListIds": [{"PrefixListId": "pl-1"}]}]
    perms = flatten(SG, entries)
    assert [p.source for p in perms] == ["10.0.0.0/8", "192.0.2.1/32", "::/0", "0.0.0.0/0", "sg-other", "pl-1"]
    assert perms[3].protocol == "all" and perms[3].covers(5432) and perms[3].all_ports
    assert perms[4].all_ports and perms[4].covers(5432)
    assert perms[2].is_world and not perms[0].is_world and not perms[4].is_world


# --- exact ingress ------------------------------------------------------------------------------


def test_exact_ingress_passes_on_the_declared_rules():
    expected = rules.expected_ingress(PORTS, ["0.0.0.0/0"], expose_app=False)
    assert rules.check_exact_ingress(good(), expected) == []
    expected = rules.expected_ingress(PORTS, ["203.0.113.0/24"], expose_app=True)
    assert rules.check_exact_ingress(good("203.0.113.0/24", expose=True), expected) == []


def test_exact_ingress_reports_extra_and_missing_rules():
    expected = rules.expected_ingress(PORTS, ["203.0.113.0/24"], expose_app=False)
    perms = flatten(SG, [tcp(22, "203.0.113.0/24"), tcp(80, "0.0.0.0/0"), tcp(8080, "0.0.0.0/0"),
                               tcp(443, "0.0.0.0/0", v6=["::/0"])])
    found = rules.check_exact_ingress(perms, expected)
    assert len(found) == 2
    assert "tcp port 8080 from 0.0.0.0/0 in sg-123 is not declared" in found[0]
    assert "tcp port 443 from ::/0" in found[1]
    missing = rules.check_exact_ingress(flatten(SG, [tcp(22, "203.0.113.0/24")]), expected)
    assert any("tcp port 80 from 0.0.0.0/0 is missing" in v for v in missing)
    assert any("tcp port 443 from 0.0.0.0/0 is missing" in v for v in missing)


def test_exact_ingress_rejects_wrong_ssh_source_and_unexposed_app():
    expected = rules.expected_ingress(PORTS, ["203.0.113.0/24"], expose_app=False)
    found = rules.check_exact_ingress(good("0.0.0.0/0", expose=True), expected)
    assert any("port 22 from 0.0.0.0/0" in v for v in found)
    assert any("port 4000 from 0.0.0.0/0" in v for v in found)
    assert any("port 22 from 203.0.113.0/24 is missing" in v for v in found)


def test_protocols_must_be_tcp():
    assert rules.check_protocols(good()) == []
    perms = flatten(SG, [{"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                               {"IpProtocol": "icmp", "FromPort": -1, "ToPort": -1, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    found = rules.check_protocols(perms)
    assert len(found) == 2 and "protocol udp" in found[0] and "protocol icmp" in found[1]


# --- never open ---------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", [
    tcp(5432, "10.0.0.0/8"),  # private source still counts
    tcp(5000, "0.0.0.0/0", to_port=6000),  # a range covering 5432
    all_traffic("192.0.2.0/24"),  # protocol -1
    {"IpProtocol": "tcp", "FromPort": 0, "ToPort": 65535, "IpRanges": [], "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
])
def test_postgres_never_open_fails_on_any_rule_covering_5432(entry):
    found = rules.check_never_open(flatten(SG, [entry]), PRODUCTION)
    assert len(found) == 1 and found[0].startswith("port 5432 (PostgreSQL) is open to ")
    assert "sg-123" in found[0] and "must never be open" in found[0]


def test_postgres_never_open_passes_without_such_rule():
    perms = good() + flatten(SG, [tcp(5433, "0.0.0.0/0", to_port=6000), tcp(1, "0.0.0.0/0", to_port=5431)])
    assert rules.check_never_open(perms, SANDBOX) == []
    udp = flatten(SG, [{"IpProtocol": "udp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert rules.check_never_open(udp, SANDBOX) == []  # a UDP rule lets no TCP connection to PostgreSQL in


# --- world exposure and SSH ---------------------------------------------------------------------


def test_world_exposure_message_names_port_group_and_allowed_ports():
    perms = good() + flatten(SG, [tcp(5432, "0.0.0.0/0")])
    found = rules.check_world_exposure(perms, SANDBOX, expose_app=False)
    assert found == ["port 5432 is open to 0.0.0.0/0 in sg-123; only 22, 80, 443 may be (policy sandbox): "
                     "remove the rule or restrict its source"]


def test_world_exposure_passes_for_the_policy_ports():
    assert rules.check_world_exposure(good(), SANDBOX, expose_app=False) == []
    assert rules.check_world_exposure(good("203.0.113.0/24"), STAGING, expose_app=False) == []
    assert rules.check_world_exposure(good("203.0.113.0/24", expose=True), STAGING, expose_app=True) == []


def test_world_exposure_rejects_ranges_all_traffic_and_ipv6_world():
    assert rules.check_world_exposure(flatten(SG, [tcp(80, "0.0.0.0/0", to_port=443)]), SANDBOX, False)
    assert rules.check_world_exposure(flatten(SG, [all_traffic("0.0.0.0/0")]), SANDBOX, False)
    found = rules.check_world_exposure(flatten(SG, [tcp(22, v6=["::/0"])]), STAGING, False)
    assert found and "open to ::/0" in found[0]


def test_world_exposure_of_4000_depends_on_exposure_and_policy():
    exposed = good("203.0.113.0/24", expose=True)
    assert rules.check_world_exposure(exposed, STAGING, expose_app=False)
    assert rules.check_world_exposure(exposed, PRODUCTION, expose_app=True)


def test_ssh_open_to_world_fails_outside_sandbox_policy():
    world = good("0.0.0.0/0")
    assert rules.check_ssh_source(world, SANDBOX) == []
    found = rules.check_ssh_source(world, STAGING)
    assert len(found) == 1 and "SSH (port 22) is open to 0.0.0.0/0 in sg-123" in found[0]
    assert "ssh_allowed_cidrs" in found[0] and "staging.tfvars" in found[0]
    assert rules.check_ssh_source(flatten(SG, [all_traffic("0.0.0.0/0")]), PRODUCTION)
    assert rules.check_ssh_source(flatten(SG, [tcp(22, v6=["::/0"])]), PRODUCTION)
    assert rules.check_ssh_source(good("203.0.113.0/24"), PRODUCTION) == []


# --- Phoenix port -------------------------------------------------------------------------------


def test_app_port_closed_unless_exposed():
    assert rules.check_app_port(good(), SANDBOX, expose_app=False) == []
    found = rules.check_app_port(good(expose=True), SANDBOX, expose_app=False)
    assert len(found) == 1 and "port 4000 (Phoenix) is open to 0.0.0.0/0" in found[0]
    assert rules.check_app_port(flatten(SG, [tcp(3000, "10.0.0.0/8", to_port=5000)]), SANDBOX, False)


def test_app_port_open_when_exposed_and_allowed():
    assert rules.check_app_port(good(expose=True), STAGING, expose_app=True) == []
    found = rules.check_app_port(good(), STAGING, expose_app=True)
    assert found and "not open" in found[0]


def test_app_port_exposure_refused_by_production_policy():
    found = rules.check_app_port(good(expose=True), PRODUCTION, expose_app=True)
    assert found and "production policy never opens port 4000" in found[0]


def test_unknown_policy_is_a_harness_error():
    with pytest.raises(HarnessError, match="no security policy 'qa'"):
        rules.policy_for("qa")


# --- instance, volume ---------------------------------------------------------------------------

INSTANCE = {"InstanceId": "i-1", "InstanceType": "t2.micro", "ImageId": "ami-0bb7d855677353076",
            "MetadataOptions": {"HttpTokens": "required"}, "RootDeviceName": "/dev/xvda",
            "BlockDeviceMappings": [{"DeviceName": "/dev/sdf", "Ebs": {"VolumeId": "vol-data"}},
                                    {"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": "vol-root"}}]}


def test_instance_shape():
    assert rules.check_instance_shape(INSTANCE, "t2.micro", "ami-0bb7d855677353076") == []
    found = rules.check_instance_shape(dict(INSTANCE, InstanceType="t3.large", ImageId="ami-1"),
                                       "t2.micro", "ami-0bb7d855677353076")
    assert len(found) == 2 and "t3.large" in found[0] and "ami-1" in found[1]


def test_imdsv2():
    assert rules.check_imdsv2(INSTANCE) == []
    found = rules.check_imdsv2(dict(INSTANCE, MetadataOptions={"HttpTokens": "optional"}))
    assert found and "IMDSv1" in found[0] and "http_tokens" in found[0]
    assert rules.check_imdsv2({"InstanceId": "i-2"})


def test_root_volume():
    assert rules.root_volume_id(INSTANCE) == "vol-root"
    assert rules.root_volume_id(dict(INSTANCE, BlockDeviceMappings=[])) is None
    good_volume = {"VolumeId": "vol-root", "Size": 8, "VolumeType": "gp3", "Encrypted": True}
    assert rules.check_root_volume(good_volume, 8, "gp3") == []
    found = rules.check_root_volume({"VolumeId": "vol-root", "Size": 30, "VolumeType": "gp2", "Encrypted": False}, 8, "gp3")
    assert len(found) == 3 and "not encrypted" in found[0] and "30 GB" in found[1] and "gp2" in found[2]


# --- tags and bucket ----------------------------------------------------------------------------

WANT_TAGS = {"Name": None, "Environment": "sandbox", "Project": "inventory-tracker", "RunId": "it12345678"}


def test_tags():
    tags = [{"Key": "Name", "Value": "x"}, {"Key": "Environment", "Value": "sandbox"},
            {"Key": "Project", "Value": "inventory-tracker"}, {"Key": "RunId", "Value": "it12345678"}]
    assert rules.check_tags("instance i-1", tags, WANT_TAGS) == []
    found = rules.check_tags("instance i-1", tags[:1] + [{"Key": "Environment", "Value": "prod"}], WANT_TAGS)
    assert any("Environment='prod'" in v for v in found)
    assert any("no Project tag" in v for v in found) and any("no RunId tag" in v for v in found)
    assert len(rules.check_tags("bucket b", None, WANT_TAGS)) == 4
    assert rules.check_tags("bucket b", [{"Key": "Name", "Value": ""}], {"Name": None})


def test_public_access_block():
    on = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert rules.check_public_access_block("b", on) == []
    found = rules.check_public_access_block("b", dict(on, RestrictPublicBuckets=False))
    assert found and "RestrictPublicBuckets" in found[0]
    assert rules.check_public_access_block("b", None)


def test_versioning():
    assert rules.check_versioning("b", {"Status": "Enabled"}) == []
    assert rules.check_versioning("b", {"Status": "Suspended"})
    assert "never enabled" in rules.check_versioning("b", {})[0]


def test_encryption():
    assert rules.check_encryption("b", [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]) == []
    assert rules.check_encryption("b", [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]) == []
    assert rules.check_encryption("b", None)
    assert rules.check_encryption("b", [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "none"}}])


def test_lifecycle():
    rule = {"Status": "Enabled", "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}
    assert rules.check_lifecycle("b", [rule]) == []
    assert rules.check_lifecycle("b", [dict(rule, Status="Disabled")])
    assert rules.check_lifecycle("b", [dict(rule, Transitions=[{"Days": 30, "StorageClass": "STANDARD_IA"}])])
    assert rules.check_lifecycle("b", None)
