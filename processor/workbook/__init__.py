"""Workbooks tmis writes for people: official templates and the hidden metadata that identifies them."""

from processor.workbook.meta import read_meta
from processor.workbook.template import TemplateError, build_template, template_file_name, write_template

__all__ = ["TemplateError", "build_template", "read_meta", "template_file_name", "write_template"]
