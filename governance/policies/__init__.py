"""Benefit policies (惠民政策): the bilingual catalog, answering and unanswered questions."""
