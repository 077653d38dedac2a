"""What a person does with each chapter's widgets in JupyterLab, and what must change.

Each interaction's ``apply(page)`` acts, waits for the kernel's answer, asserts that the
picture (and for Train, the progress) changed, and returns ``(description, output area)``.

``CHAPTER_INTERACTIONS`` is keyed by chapter id; a chapter issue adds its own entries.
A chapter without an entry gets :func:`generic_interactions`: a Train button (if any) is
clicked and must move progress and the picture; otherwise the first slider in a widget
that shows an image is moved and the image must change. Controls are found by their
description (the label ipywidgets draws), so the tests follow the chapter, not its layout.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

from playwright.sync_api import Locator, Page

from .lab import IMAGE_DIGESTS_JS, PROGRESS_JS, PROGRESS_RECORD_JS, PROGRESS_SEEN_JS, current_state

# The widget outputs of the open notebook in JupyterLab.
WIDGET_OUTPUTS = ".jp-Notebook .jp-OutputArea-output:not([data-mime-type])"
_OUTPUT_ANCESTOR = "xpath=ancestor::div[contains(concat(' ', @class, ' '), ' jp-OutputArea-output ')][1]"


def _label(control: Locator) -> str:
    label = control.locator(".widget-label")
    return label.first.inner_text().strip() if label.count() else ""


def _find(page: Page, css: str, label: str | None, need_image: bool = False) -> tuple[Locator, Locator]:
    """The first control matching ``css`` whose description matches ``label`` (a regex).

    Returns:
        ``(control, output)``: the control and the notebook output area that holds it.
    """
    candidates = page.locator(f"{WIDGET_OUTPUTS} {css}")
    seen = []
    for i in range(candidates.count()):
        control = candidates.nth(i)
        text = _label(control) if not css.startswith("button") else control.inner_text().strip()
        seen.append(text)
        output = control.locator(_OUTPUT_ANCESTOR)
        if label is not None and not re.search(label, text, re.I):
            continue
        if need_image and output.locator("img").count() == 0:
            continue
        return control, output
    what = f"{css} labelled /{label}/" if label else f"{css} in a widget with an image"
    raise AssertionError(f"no {what} among the rendered widgets; found: {seen}")


def image_digests(output: Locator) -> list:
    return output.evaluate(IMAGE_DIGESTS_JS)


def _wait_for_change(page: Page, probe, before, what: str, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    now = before
    while time.monotonic() < deadline:
        page.wait_for_timeout(250)
        now = probe()
        if now != before:
            return now
    raise AssertionError(f"{what} did not change within {timeout:.0f}s (still {str(now)[:200]})")


def _wait_for_kernel_idle(page: Page, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        state = current_state(page)
        if state and state["kernel"] == "idle":
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 1.0:
                return
        else:
            idle_since = None
        page.wait_for_timeout(250)
    raise AssertionError(f"kernel still busy {timeout:.0f}s after the interaction")


@dataclass
class Slider:
    """Move a slider with the keyboard (focus its handle, press an arrow key); an image in its widget must change."""

    label: str | None = None  # regex on the description; None: the first slider in a widget with an image
    key: str = "ArrowRight"
    presses: int = 2
    timeout: float = 300  # a bound for a stuck kernel, not a speed requirement

    def apply(self, page: Page) -> tuple[str, Locator]:
        slider, output = _find(page, ".widget-slider", self.label, need_image=True)
        readout = slider.locator(".widget-readout")
        before_value = readout.inner_text() if readout.count() else None
        before = image_digests(output)
        handle = slider.locator(".noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        for _ in range(self.presses):
            handle.press(self.key)
        if before_value is not None:
            assert readout.inner_text() != before_value, f"slider {_label(slider)!r} did not move ({before_value})"
        after = _wait_for_change(page, lambda: image_digests(output), before,
                                 f"the image next to slider {_label(slider)!r}", self.timeout)
        _wait_for_kernel_idle(page, self.timeout)
        moved = f" {before_value} -> {readout.inner_text()}" if before_value is not None else ""
        return f"slider {_label(slider)!r}{moved}: image {before} -> {after}", output


@dataclass
class Dropdown:
    """Pick another option in a dropdown; an image in its widget must change."""

    label: str
    timeout: float = 300

    def apply(self, page: Page) -> tuple[str, Locator]:
        dropdown, output = _find(page, ".widget-dropdown", self.label, need_image=True)
        select = dropdown.locator("select")
        current = select.input_value()
        options = [o for o in select.locator("option").evaluate_all("os => os.map(o => o.value)") if o != current]
        assert options, f"dropdown {self.label!r} has a single option"
        before = image_digests(output)
        select.scroll_into_view_if_needed()
        select.select_option(options[0])
        after = _wait_for_change(page, lambda: image_digests(output), before,
                                 f"the image next to dropdown {self.label!r}", self.timeout)
        _wait_for_kernel_idle(page, self.timeout)
        return f"dropdown {self.label!r} {current} -> {options[0]}: image {before} -> {after}", output


@dataclass
class Button:
    """Click a button (e.g. Train); progress (bars or text) and an image in its widget must update.

    ``shorten``: a regex for a control (epochs, steps) that is first set to its minimum,
    as a person in a hurry would, so that a click trains briefly.
    """

    label: str = r"^\s*train\b"
    shorten: str | None = r"epoch"
    expect_image: bool = True
    timeout: float = 600

    def apply(self, page: Page) -> tuple[str, Locator]:
        button, output = _find(page, "button", self.label)
        notes = []
        if self.shorten:
            notes += _shorten(output, self.shorten)
        progress = lambda: output.evaluate(PROGRESS_JS)  # noqa: E731
        before_progress, before_images = progress(), image_digests(output)
        name = button.inner_text().strip()
        output.evaluate(PROGRESS_RECORD_JS)
        button.scroll_into_view_if_needed()
        button.click()
        deadline = time.monotonic() + self.timeout
        changed_progress = changed_image = False
        seen = [before_progress["bars"]]  # progress-bar states observed while it trains
        while time.monotonic() < deadline and (button.is_disabled() or not changed_progress
                                               or not (changed_image or not self.expect_image)):
            page.wait_for_timeout(200)
            now = progress()
            if now["bars"] != seen[-1]:
                seen.append(now["bars"])
            changed_progress = changed_progress or now != before_progress
            changed_image = changed_image or image_digests(output) != before_images
        assert changed_progress, f"no progress shown within {self.timeout:.0f}s of clicking {name!r}"
        if before_progress["bars"]:  # a progress bar must have moved, not just a status text
            # Every width the bar took (a mutation observer, so a run shorter than the
            # polling interval still shows its 0% -> 100%), not only the polled ones.
            widths = output.evaluate(PROGRESS_SEEN_JS)
            assert len(seen) > 1 or len(set(widths)) > 1, \
                f"the progress bar stayed at {seen[0]} while {name!r} ran (observed widths: {widths})"
        assert changed_image or not self.expect_image, f"no curve/image update within {self.timeout:.0f}s of clicking {name!r}"
        # The run ends (training may run in a kernel thread: the button comes back).
        assert not button.is_disabled(), f"{name!r} still running after {self.timeout:.0f}s"
        _wait_for_kernel_idle(page, max(10.0, deadline - time.monotonic()))
        after_progress, after_images = progress(), image_digests(output)
        text = output.inner_text()
        assert not re.search(r"Traceback \(most recent call last\)", text), f"{name!r} showed a traceback: {text[-800:]}"
        assert after_images != before_images or not self.expect_image, f"the curve after {name!r} is the one before"
        return (f"button {name!r}{' (' + ', '.join(notes) + ')' if notes else ''}: "
                f"progress bars seen {' -> '.join(map(str, seen + [after_progress['bars']]))} "
                f"(bar widths observed: {' -> '.join(output.evaluate(PROGRESS_SEEN_JS))}), "
                f"image {before_images} -> {after_images}",
                output)


def _shorten(output: Locator, label: str) -> list[str]:
    """Set controls labelled ``label`` to their minimum: sliders with Home, number boxes to 1."""
    notes = []
    for kind in (".widget-slider", ".widget-text, .widget-inline-hbox:has(input[type=number])"):
        controls = output.locator(kind)
        for i in range(controls.count()):
            control = controls.nth(i)
            if not re.search(label, _label(control), re.I):
                continue
            if kind == ".widget-slider":
                handle = control.locator(".noUi-handle").first
                handle.focus()
                handle.press("Home")
            else:
                box = control.locator("input").first
                box.fill("1")
                box.press("Enter")
            notes.append(f"{_label(control)} set to minimum")
    return notes


# Chapter id -> what a person does there. Chapter issues add their interactions here.
CHAPTER_INTERACTIONS: dict[str, list] = {
    "00": [Slider("learning rate"), Dropdown("surface")],  # OptimizerExplorer
    "01": [Slider(r"^slice$")],  # SliceViewer: move the slice, the image changes
    "02": [Button(), Slider(r"^case$")],  # TrainingPanel: Train -> progress and curve; PredictionBrowser
    "03": [Button(), Slider(r"^slice$")],  # TrainingPanel; SliceViewer of a case
    "04": [Button()],  # TrainingPanel
    # CensusDashboard: the horizon starts at its maximum (14 days), so it moves down
    "06": [Slider(r"^days ahead$", key="ArrowLeft")],
}


def generic_interactions(page: Page) -> list:
    """For a chapter without an entry: a Train button if there is one, else a slider next to an image."""
    buttons = page.locator(f"{WIDGET_OUTPUTS} button")
    if any(re.search(Button.label, buttons.nth(i).inner_text(), re.I) for i in range(buttons.count())):
        return [Button()]
    sliders = page.locator(f"{WIDGET_OUTPUTS} .widget-slider")
    for i in range(sliders.count()):
        if sliders.nth(i).locator(_OUTPUT_ANCESTOR).locator("img").count():
            return [Slider()]
    return []


def interactions_for(chapter_id: str, page: Page) -> list:
    if chapter_id in CHAPTER_INTERACTIONS:
        return CHAPTER_INTERACTIONS[chapter_id]
    return generic_interactions(page)
