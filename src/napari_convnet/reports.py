"""Evaluation reports as text, for the terminal and the Evaluate dock. Keras-free.

A report is the dict of :func:`napari_convnet.core.evaluation.classification_report`
(``class_names``, ``accuracy``, ``n_samples``, ``per_class``, ``macro_avg``,
``confusion_matrix``, optionally ``split``).
"""


def format_report(report, matrix=True):
    """Per-class precision/recall/F1/support as aligned text.

    Parameters
    ----------
    report : dict
        See the module docstring.
    matrix : bool
        Add the macro average and the confusion matrix (the terminal's report; the dock draws
        its matrix itself).

    Returns
    -------
    str
        Starts ``"accuracy 91.2 % on 500 images (test)"``.
    """
    names = report["class_names"]
    width = max(12, *(len(n) for n in names))
    split = f" ({report['split']})" if report.get("split") else ""
    lines = [f"accuracy {100 * report['accuracy']:.1f} % on {report['n_samples']} images{split}",
             "", f"{'class':<{width}}  precision  recall     f1  support"]
    for name in names:
        r = report["per_class"][name]
        lines.append(f"{name:<{width}}  {r['precision']:9.3f}  {r['recall']:6.3f}  "
                     f"{r['f1']:5.3f}  {r['support']:7d}")
    if not matrix:
        return "\n".join(lines)
    avg = report["macro_avg"]
    lines.append(f"{'macro avg':<{width}}  {avg['precision']:9.3f}  {avg['recall']:6.3f}  "
                 f"{avg['f1']:5.3f}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)"]
    cell = max(5, *(len(str(v)) for row in report["confusion_matrix"] for v in row))
    lines.append(" " * width + "  " + " ".join(f"{i:>{cell}}" for i in range(len(names))))
    for i, (name, row) in enumerate(zip(names, report["confusion_matrix"], strict=True)):
        lines.append(f"{name:<{width}}  " + " ".join(f"{v:>{cell}}" for v in row) + f"  ({i})")
    return "\n".join(lines)
