"""Readers and writers: images and PDFs, WFDB records, CSV and EDF."""
