"""Figures: the layer proportions (the paper's Figure 1), a unit's top images and crops and its maximised picture.

Takes tables, summaries and stores; gives matplotlib Axes (axes-level functions, ``ax=``) and Figures
(figure-level ones, ``fig=``), and Display objects for figures with state.
"""

from ..startup import modules_on_first_use

__getattr__ = modules_on_first_use(__name__, ['plots', 'visualize'])
