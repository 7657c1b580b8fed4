"""A tiny module for the gate's report fixtures."""


def add(a, b):
    return a + b


def divide(a, b):
    if b == 0:
        raise ZeroDivisionError("cannot divide by zero")
    return a / b


def grade(score):
    if score >= 90:
        return "A"
    if score >= 50:
        return "B"
    return "F"


def unused(x):
    return x * 2
