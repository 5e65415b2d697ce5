"""Benefit policies: the bilingual catalog, answering and unanswered questions."""
