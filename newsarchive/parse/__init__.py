"""Parsing: a file's bytes -> a Post -> the rows it contributes."""
