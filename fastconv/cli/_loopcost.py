"""``python -m fastconv train --measure-loop``: the bare model step's images/s beside the
training loop's, so that what the loop adds (shuffling and batch copies, the learning-rate
schedule, metrics, the progress bar) shows as a share of the step."""
from __future__ import annotations

import time
from typing import Any

import numpy as np


def bare_step_rate(model: Any, opt: Any, loss_fn: Any, x: np.ndarray, y: np.ndarray,
                   batch_size: int, steps: int) -> float:
    """Images/s of `steps` bare training steps (forward, loss, zero_grad, backward, optimizer
    step) on one fixed batch of the first `batch_size` images, after two untimed steps.  It
    trains `model` further: call it once the run's results are saved."""
    xb = np.ascontiguousarray(x[:batch_size])
    yb = np.ascontiguousarray(y[:batch_size])

    def step() -> None:
        logits = model(xb)
        float(loss_fn(logits, yb))
        model.zero_grad()
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step()
    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return len(xb) * steps / (time.perf_counter() - t0)


def report(model: Any, opt: Any, loss_fn: Any, x: np.ndarray, y: np.ndarray, batch_size: int,
           loop_rate: float, steps: int) -> str:
    """The line --measure-loop prints: the bare step's images/s (timed now, over `steps` steps)
    and the training loop's (`loop_rate`, measured over the run without the test passes)."""
    bare = bare_step_rate(model, opt, loss_fn, x, y, batch_size, max(1, steps))
    return ("bare step: %.0f images/s at batch %d; training loop: %.0f images/s (%.0f%% of the "
            "bare step, test passes excluded)" % (bare, min(batch_size, len(x)), loop_rate,
                                                  100.0 * loop_rate / bare))
