"""Parsers, one module per wire format, each turning a decoded JSON body into normalized
alerts or raising `AlertFormatError` naming the field."""

from tocsin.alerts.formats.errors import AlertFormatError, ErrorKind, FieldError

__all__ = ["AlertFormatError", "ErrorKind", "FieldError"]
