"""vipet: Vietnamese PET/CT report generation and visual question answering, offline and reproducible."""

__version__ = "0.1.0"
