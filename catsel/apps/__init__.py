"""What people use: the ``catsel`` command, the explorers for JupyterLab and Voila, the course's checks.

Takes what a person types, clicks or answers; gives printouts, files, widgets and grades, through the
stages below.
"""

from ..startup import modules_on_first_use

__getattr__ = modules_on_first_use(__name__, ['cli', 'course', 'widgets'])
