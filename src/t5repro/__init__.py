"""t5repro: a reproducibility suite for Raffel et al. 2020 (T5), from Common Crawl WET files to the paper's tables."""

__version__ = "0.1.0"
