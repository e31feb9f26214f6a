"""Scores of the detectors: against the simulator's truth (``simulated``, run by
``simulated_cli``: ``thermal-perception eval``) and against labelled real images (``dataset``:
``thermal-perception eval --dataset DIR``), with the box scores both use (``boxes``: precision,
recall, F1, AP50 per class, MOTA).
"""
