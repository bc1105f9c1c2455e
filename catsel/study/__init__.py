"""The study: the whole pipeline in one call, its record, its report, networks compared, lesions, the paper's findings.

Takes a data folder and settings; gives a run folder (the store, ``selectivity.csv``, ``layer_summary.csv``,
Figure 1, ``run.json``) and, from finished runs, the report, the comparison of networks, lesions and the
paper's findings held against the null.
"""

from ..startup import modules_on_first_use

__getattr__ = modules_on_first_use(__name__, ['comparison', 'lesions', 'paper', 'pipeline', 'record', 'report', 'settings', 'verdict'])
