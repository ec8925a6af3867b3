"""What a drift plan names: the resource, the action and, for an update, the attributes that change."""
from harness.terraform import changed_attributes


def test_changed_attributes_name_what_differs_or_becomes_unknown():
    change = {"before": {"ingress": [{"from_port": 22}], "name": "web", "tags": {"A": "1"}},
              "after": {"ingress": [{"from_port": 22}, {"from_port": 8443}], "name": "web", "tags": {"A": "1"}},
              "after_unknown": {"arn": True, "tags": {}}}
    assert changed_attributes(change) == ["arn", "ingress"]


def test_changed_attributes_of_a_change_without_values():
    assert changed_attributes({"before": None, "after": None}) == []
