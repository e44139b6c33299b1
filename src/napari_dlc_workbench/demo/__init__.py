"""``make demo``: the DeepLabCut loop on a synthetic Cladonema recording, with a report.

The loop, with real DLC functions: generate a full-frame multi-well recording,
crop the five wells with ImageJ-style contrast in one pass (clips named like
the users' ``DSC_3189_#1``), create a DLC project for the clips, pick frames
into ``labeled-data/``, label them from the generator's ground truth (moved
into each clip's crop space) through the same ``write_labels`` a user's save
goes through, let DLC build a training dataset from them, train a small network
offline (random initial weights: no download) and evaluate it, draw a learning
curve (three nested subsets of the labelled frames), then run one correction
iteration: analyse a clip, rank its outlier frames (and measure the ranking's
precision against the ground truth), correct them through the Outliers dock's
queue and export, retrain from the previous snapshot and evaluate again.
Finally a child process takes screenshots of the docks when a display (or
``xvfb-run``) is available.

Every DLC call runs in a child process through :mod:`napari_dlc_workbench.dlc.runner`,
as in the docks. ``<out>/demo-summary.json`` holds every step's timing and
figures and ``<out>/report.html`` shows them as one self-contained page; both
are written also when a step fails.

Modules: :mod:`.core` (sizes, step recorder, jobs), :mod:`.run` (the steps),
:mod:`.correction` (the correction iteration and outlier precision),
:mod:`.screenshots` (the Qt child), :mod:`.figures` and :mod:`.report` (the page).
"""

from napari_dlc_workbench.demo.core import DEMO_SIZES, DemoError, demo_finished, uniform_frames
from napari_dlc_workbench.demo.report import REPORT, render_report, write_report
from napari_dlc_workbench.demo.run import run_demo
from napari_dlc_workbench.demo.screenshots import take_screenshots

__all__ = [
    "DEMO_SIZES",
    "REPORT",
    "DemoError",
    "demo_finished",
    "render_report",
    "run_demo",
    "take_screenshots",
    "uniform_frames",
    "write_report",
]
