"""Tokenise the arithmetic expressions users type into spreadsheet cells."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    NUMBER = "number"
    NAME = "name"
    OPERATOR = "operator"
    LPAREN = "("
    RPAREN = ")"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    column: int  # 0-based, for error messages


OPERATORS = set("+-*/^,")


class TokenError(ValueError):
    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column + 1}: {message}")
        self.column = column


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char.isspace():
            i += 1
        elif char.isdigit() or (char == "." and source[i + 1 : i + 2].isdigit()):
            start = i
            while i < len(source) and (source[i].isdigit() or source[i] == "."):
                i += 1
            text = source[start:i]
            if text.count(".") > 1:
                raise TokenError(f"malformed number {text!r}", start)
            tokens.append(Token(Kind.NUMBER, text, start))
        elif char.isalpha() or char == "_":
            start = i
            while i < len(source) and (source[i].isalnum() or source[i] == "_"):
                i += 1
            tokens.append(Token(Kind.NAME, source[start:i], start))
        elif char in OPERATORS:
            tokens.append(Token(Kind.OPERATOR, char, i))
            i += 1
        elif char in "()":
            tokens.append(Token(Kind.LPAREN if char == "(" else Kind.RPAREN, char, i))
            i += 1
        else:
            raise TokenError(f"unexpected character {char!r}", i)
    return tokens
