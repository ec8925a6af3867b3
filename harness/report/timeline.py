"""The stage timeline as geometry for an inline SVG: one bar per record on a shared time axis.

Pure computation: records (``name``, ``kind``, ``started_at``, ``ended_at``, ``seconds``,
``outcome``) in, bars, ticks and markers in SVG user units out; the template draws them.
Records that carry no start time (certificates written before stages recorded them)
are laid end to end, and the timeline says so.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

WIDTH = 1000  # viewBox width; the SVG scales to the page (width 100%), so it never overflows
LABEL_WIDTH = 210  # left column for the bars' names
RIGHT_MARGIN = 20
ROW_HEIGHT = 26
BAR_HEIGHT = 16
TOP = 12  # space above the first row
AXIS_HEIGHT = 34  # ticks and their labels below the rows
MIN_BAR_WIDTH = 2.0  # a step of a few milliseconds stays visible
LABEL_ROOM = 64  # what a duration label ("123.4 s") needs right of its bar
NAME_ROOM = 28  # characters of a bar's name that fit the label column (with " (teardown)" too)
MARKER_LABEL_HEIGHT = 15  # one line per marker label below the axis
NICE_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


def parse_time(value: Any) -> Optional[float]:
    """An ISO-8601 string (``Z`` or offset; naive means UTC) or epoch seconds, as epoch seconds; None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


def clock(epoch: float) -> str:
    """HH:MM:SS UTC of ``epoch``."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%H:%M:%S")


@dataclass(frozen=True)
class Span:
    """One thing to draw as a bar: a stage, a teardown step, or a measured interval (RTO, RPO)."""

    name: str
    kind: str  # stage | teardown | measure
    start: float  # epoch seconds
    end: float
    outcome: str = "finished"  # finished | failed | met | missed


@dataclass(frozen=True)
class Marker:
    """A vertical line at one moment (the disaster, an objective's deadline)."""

    at: float
    label: str
    kind: str  # disaster | objective


@dataclass(frozen=True)
class Bar:
    name: str
    kind: str
    outcome: str
    x: float
    y: float
    width: float
    seconds: float
    start_clock: str
    end_clock: str

    @property
    def short_name(self) -> str:
        """The name as it fits the label column (the bar's tooltip has it whole)."""
        return self.name if len(self.name) <= NAME_ROOM else self.name[:NAME_ROOM - 1] + "…"

    @property
    def label_position(self) -> str:
        """Where the duration label goes: after the bar, inside its right end, or before it (no room)."""
        if self.x + self.width + LABEL_ROOM <= WIDTH - RIGHT_MARGIN + 14:
            return "after"
        return "inside" if self.width >= LABEL_ROOM else "before"


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class DrawnMarker:
    x: float
    label: str
    kind: str
    label_y: float  # its label's line below the axis

    @property
    def anchor(self) -> str:
        """Labels near the right edge end at their line instead of starting there."""
        return "end" if self.x > WIDTH - 200 else "start"


@dataclass
class Timeline:
    """Everything the SVG template needs, in viewBox units."""

    bars: list[Bar]
    ticks: list[Tick]
    markers: list[DrawnMarker]
    height: float
    width: float = WIDTH
    label_width: float = LABEL_WIDTH
    axis_y: float = 0.0
    start_clock: str = ""
    span_seconds: float = 0.0
    estimated: bool = False  # some records had no start time and were laid end to end
    notes: list[str] = field(default_factory=list)


def spans_from_records(records: Iterable[dict[str, Any]]) -> tuple[list[Span], bool]:
    """Spans from certificate stage records; records without times follow the previous one's end."""
    spans: list[Span] = []
    estimated = False
    cursor: Optional[float] = None
    for record in records:
        seconds = float(record.get("seconds") or 0.0)
        start = parse_time(record.get("started_at", record.get("start")))  # the drill's records say start/end
        end = parse_time(record.get("ended_at", record.get("end")))
        if start is None:
            estimated = True
            start = cursor if cursor is not None else (end - seconds if end is not None else 0.0)
        if end is None:
            end = start + seconds
        spans.append(Span(str(record.get("name", "?")), str(record.get("kind", "stage")), start, max(end, start),
                          str(record.get("outcome", "finished"))))
        cursor = max(end, start)
    return spans, estimated


def _tick_step(seconds: float) -> float:
    for step in NICE_STEPS:
        if seconds / step <= 10:
            return step
    return NICE_STEPS[-1] * max(1, round(seconds / NICE_STEPS[-1] / 10))


def _tick_label(offset: float, step: float) -> str:
    if step < 1:
        return f"{offset:.1f} s"
    if step >= 60 and offset % 60 == 0:
        return f"{int(offset // 60)} min"
    return f"{int(round(offset))} s"


def layout(spans: list[Span], markers: Iterable[Marker] = (), *, estimated: bool = False) -> Timeline:
    """Place one bar per span (in the given order, one row each) and the markers on one time axis."""
    markers = list(markers)
    moments = [s.start for s in spans] + [s.end for s in spans] + [m.at for m in markers]
    if not moments:
        return Timeline([], [], [], height=TOP + AXIS_HEIGHT, axis_y=TOP, notes=["no stage was recorded"])
    t0, t1 = min(moments), max(moments)
    total = max(t1 - t0, 1e-3)
    plot = WIDTH - LABEL_WIDTH - RIGHT_MARGIN

    def x_of(moment: float) -> float:
        return round(LABEL_WIDTH + (moment - t0) / total * plot, 2)

    bars = []
    for row, span in enumerate(spans):
        x = x_of(span.start)
        width = max(round(x_of(span.end) - x, 2), MIN_BAR_WIDTH)
        bars.append(Bar(span.name, span.kind, span.outcome, x, TOP + row * ROW_HEIGHT, width,
                        round(span.end - span.start, 2), clock(span.start), clock(span.end)))
    axis_y = TOP + len(spans) * ROW_HEIGHT
    step = _tick_step(total)
    ticks = []
    offset = 0.0
    while offset <= total + 1e-9:
        ticks.append(Tick(x_of(t0 + offset), _tick_label(offset, step)))
        offset = round(offset + step, 6)
    drawn = [DrawnMarker(x_of(m.at), m.label, m.kind, axis_y + AXIS_HEIGHT + i * MARKER_LABEL_HEIGHT)
             for i, m in enumerate(markers)]
    notes = ["some records carry no start time: they are drawn end to end"] if estimated else []
    height = axis_y + AXIS_HEIGHT + len(drawn) * MARKER_LABEL_HEIGHT
    return Timeline(bars, ticks, drawn, height=height, axis_y=axis_y, start_clock=clock(t0),
                    span_seconds=round(total, 2), estimated=estimated, notes=notes)
