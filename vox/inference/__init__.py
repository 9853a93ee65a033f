"""Using trained models outside training: conversion of spectrograms and WAVs."""
from vox import compat  # noqa: F401  (before chainer: Chainer today)
