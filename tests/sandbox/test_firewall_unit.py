"""Security groups -> nftables: the translation, checked against nft's own parser."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from harness.sandbox.firewall import IngressRule, nft_script, rules_from_security_groups

GROUPS = [{
    "GroupId": "sg-0aaa",
    "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.213.0.6/32"}]},
        {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
        {"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8010, "IpRanges": [{"CidrIp": "192.0.2.0/24"},
                                                                             {"CidrIp": "198.51.100.0/24"}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "203.0.113.7/32"}]},
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 9000, "ToPort": 9000, "UserIdGroupPairs": [{"GroupId": "sg-0bbb"}]},
    ],
}]


def test_rules_from_security_groups():
    rules = rules_from_security_groups(GROUPS)
    assert rules == [
        IngressRule("tcp", 22, 22, ("10.213.0.6/32",), "sg-0aaa"),
        IngressRule("tcp", 80, 80, ("0.0.0.0/0", "::/0"), "sg-0aaa"),
        IngressRule("tcp", 8000, 8010, ("192.0.2.0/24", "198.51.100.0/24"), "sg-0aaa"),
        IngressRule("all", None, None, ("203.0.113.7/32",), "sg-0aaa"),
        IngressRule("udp", 53, 53, ("0.0.0.0/0",), "sg-0aaa"),
    ]  # the group-to-group rule has no CIDR a sandbox source could match


def test_allows_tcp():
    rules = rules_from_security_groups(GROUPS)
    ssh, http, range_rule, everything, dns = rules
    assert ssh.allows_tcp(22, "10.213.0.6") and not ssh.allows_tcp(22, "10.213.0.7")
    assert not ssh.allows_tcp(23, "10.213.0.6")
    assert http.allows_tcp(80, "8.8.8.8") and http.allows_tcp(80, "2001:db8::1")
    assert range_rule.allows_tcp(8005, "198.51.100.9") and not range_rule.allows_tcp(8011, "198.51.100.9")
    assert everything.allows_tcp(5432, "203.0.113.7") and not everything.allows_tcp(5432, "203.0.113.8")
    assert not dns.allows_tcp(53, "8.8.8.8")


def test_nft_script_content():
    script = nft_script("it12345678", "vc-it12345678", ["vc-it12345678", "vi-it12345678"],
                        rules_from_security_groups(GROUPS))
    lines = [line.strip() for line in script.splitlines()]
    assert "type filter hook forward priority filter; policy accept;" in lines
    assert 'oifname "vc-it12345678" ct state established,related accept' in lines
    assert 'oifname "vc-it12345678" ip saddr 10.213.0.6/32 tcp dport 22 accept comment "sg-0aaa"' in lines
    assert 'oifname "vc-it12345678" ip6 saddr ::/0 tcp dport 80 accept comment "sg-0aaa"' in lines
    assert ('oifname "vc-it12345678" ip saddr { 192.0.2.0/24, 198.51.100.0/24 } tcp dport 8000-8010 accept '
            'comment "sg-0aaa"') in lines
    assert 'oifname "vc-it12345678" ip saddr 203.0.113.7/32 accept comment "sg-0aaa"' in lines
    assert 'oifname "vc-it12345678" ip saddr 0.0.0.0/0 udp dport 53 accept comment "sg-0aaa"' in lines
    # The catch-all drop comes after every accept; nothing of port 9000 (group source) is allowed.
    drop = lines.index('oifname "vc-it12345678" drop comment "not allowed by the security groups"')
    assert all(i < drop for i, line in enumerate(lines) if line.endswith('comment "sg-0aaa"'))
    assert "9000" not in script
    # The table is replaced atomically: created, deleted and defined again in one script.
    assert script.startswith("table inet it12345678 {}\ndelete table inet it12345678\n")


def test_no_rules_drops_everything():
    script = nft_script("it12345678", "vc-it12345678", ["vc-it12345678"], [])
    assert "accept comment" not in script and "drop comment" in script


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed")
def test_nft_accepts_the_script():
    """nft's parser (check mode, nothing loaded) accepts what the translation produces."""
    script = nft_script("it12345678", "vc-it12345678", ["vc-it12345678", "vi-it12345678"],
                        rules_from_security_groups(GROUPS))
    result = subprocess.run(["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True)
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert result.returncode == 0, result.stderr
