"""Everything Datasette loads: search, articles, cells, the chart, security."""
