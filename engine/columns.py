"""Column builders shared by every module's SQLModel tables (instants are integer microseconds, UTC)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, Text


def text_col(nullable: bool = True, *, fk: str | None = None, index: bool = False) -> Column:
    if fk:
        return Column(Text, ForeignKey(fk), nullable=nullable, index=index)
    return Column(Text, nullable=nullable, index=index)


def int_col(nullable: bool = True, *, fk: str | None = None) -> Column:
    if fk:
        return Column(Integer, ForeignKey(fk), nullable=nullable)
    return Column(Integer, nullable=nullable)


def us_col(nullable: bool = False) -> Column:
    return Column(BigInteger, nullable=nullable)


def flag_col(default: bool = False) -> Column:
    return Column(Boolean, nullable=False, default=default)
