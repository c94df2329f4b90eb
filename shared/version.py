"""Feedhouse's version: the app's, and the `feedhouse` client's, whose wheel the app serves
(clients/feedhouse/setup.py reads it from here)."""

VERSION = "0.1.0"
