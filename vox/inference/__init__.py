"""Using trained models outside training: conversion of spectrograms and WAVs."""
