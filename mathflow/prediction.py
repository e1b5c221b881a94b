"""``mathflow predict``: a logged run's model applied to the inputs in a file, the predictions written to
a file or to standard output (csv, npy or json)."""

from __future__ import annotations

import sys


def predict_file(
    run_id: str,
    input: str,
    output: str | None,
    fmt: str | None,
    *,
    proba: bool = False,
    allow_nonfinite: bool = False,
    tracking_uri: str | None = None,
) -> list[str]:
    """Predict for the inputs in ``input``: to ``output`` (then the line that says so is returned), or
    onto standard output (then no line)."""
    from mathflow.predictor import json_text, open_run_model, output_format, read_input, write_csv, write_output

    chosen = output_format(fmt, output)
    model = open_run_model(run_id, tracking_uri)
    x = read_input(input, model.column_names)
    predictions = model.predict(x, proba=proba, source=input, allow_nonfinite=allow_nonfinite)
    columns = model.class_columns(predictions.shape[-1]) if proba else None
    if output:
        write_output(output, predictions, chosen, columns)
        return [f"wrote {len(predictions)} {'probability rows' if proba else 'predictions'} to {output}"]
    if chosen == "json":  # to a reader that goes away (| head): see mathflow.process.StdoutGuard
        sys.stdout.write(json_text(predictions, columns))
    else:
        write_csv(sys.stdout, predictions, columns)
    return []
