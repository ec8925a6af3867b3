"""make test's scheduler (tests/conftest.py): a worker gets its next group of tests only when it holds one
unrun test (xdist's loadscope gives it one while it holds up to three)."""
import importlib.util
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace


def load_tests_conftest():
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("tests_conftest_for_the_scheduler_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Config:
    option = SimpleNamespace(testrunuid="scheduler-test", dist="loadgroup")

    def getoption(self, name, default=None):
        return {"dist": "loadgroup"}.get(name, default)

    def getvalue(self, name):
        return ["2*popen"] if name == "tx" else None


class Worker:
    shutting_down = False

    def __init__(self):
        self.sent = []

    def send_runtest_some(self, indexes):
        self.sent.append(list(indexes))

    def shutdown(self):
        self.shutting_down = True


def test_a_worker_gets_its_next_group_when_it_holds_one_unrun_test():
    scheduler = load_tests_conftest().pytest_xdist_make_scheduler(Config(), None)
    worker = Worker()
    scheduler.registered_collections[worker] = ["a1", "a2", "b1", "c1"]
    scheduler.workqueue = OrderedDict([("A", {"a1": False, "a2": False}), ("B", {"b1": False}),
                                       ("C", {"c1": False})])
    scheduler._assign_work_unit(worker)  # noqa: SLF001 - the scheduler's own steps, as xdist calls them
    scheduler._reschedule(worker)  # noqa: SLF001
    assert worker.sent == [[0, 1]], "a worker holding two unrun tests got another group"
    scheduler.assigned_work[worker]["A"]["a1"] = True  # a1 ran: a2 is the one test it holds
    scheduler._reschedule(worker)  # noqa: SLF001
    assert worker.sent == [[0, 1], [2]]
    scheduler._reschedule(worker)  # noqa: SLF001
    assert worker.sent == [[0, 1], [2]], "a worker holding two unrun tests got another group"
