"""The run's HTML report: one self-contained page per JSON document (issue 16).

``model`` turns a document into what a page shows, ``timeline`` lays out the stage
timeline's SVG, ``render`` fills the Jinja2 templates; ``python -m harness.report FILE``
renders a page from an existing JSON file.
"""
from harness.report.render import render, write_report

__all__ = ["render", "write_report"]
