"""Run folders and the run loop: what `vox run ID` does around a Trainer."""
