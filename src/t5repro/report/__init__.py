"""Reports: the paper's tables rebuilt beside the paper's own numbers (shared/paper), and training figures."""

from t5repro.report.paper import SUMMARY_COLUMNS, PaperTable, paper_dir, read_table
from t5repro.report.tables import TABLES, TableSpec, build_table, collect_evals, get_table

__all__ = ["SUMMARY_COLUMNS", "TABLES", "PaperTable", "TableSpec", "build_table", "collect_evals", "get_table",
           "paper_dir", "read_table"]
