"""What a drift plan names: the resource, the action and, for an update, the attributes that change."""
import json

from harness.terraform import changed_attributes


def test_changed_attributes_name_what_differs_or_becomes_unknown():
    change = {"before": {"ingress": [{"from_port": 22}], "name": "web", "tags": {"A": "1"}},
              "after": {"ingress": [{"from_port": 22}, {"from_port": 8443}], "name": "web", "tags": {"A": "1"}},
              "after_unknown": {"arn": True, "tags": {}}}
    assert changed_attributes(change) == ["arn", "ingress"]


def test_changed_attributes_of_a_change_without_values():
    assert changed_attributes({"before": None, "after": None}) == []


def test_the_streamed_change_summary_says_whether_the_saved_plan_is_read():
    from harness.terraform import plan_changes_anything

    def summary(**counts):
        changes = {"add": 0, "change": 0, "import": 0, "remove": 0, "operation": "plan", **counts}
        return '{"@level":"info","type":"version"}\n' + json.dumps({"type": "change_summary", "changes": changes})

    assert not plan_changes_anything(summary())
    assert plan_changes_anything(summary(change=1))
    assert plan_changes_anything(summary(remove=2))
    assert plan_changes_anything('{"type":"version"}\nnot json\n'), "without a summary the saved plan is read"
