"""Contact-centre reports: the definitions of docs/reports.md, computed over the stored records.

``settings`` (the ``reports:`` configuration section), ``erlang`` (Erlang C staffing), ``definitions`` (pure
figures over rows), ``queries`` (reading the rows of a period), ``formatting`` (table, CSV, JSON).
"""
