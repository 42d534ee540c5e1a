"""`tfrnn prepare`: mine high-entropy tiles from photos into sharded TFRecords.

The procedure is Toderici et al. 2017's "high entropy" training set: cut each 1280×720 image
into non-overlapping 32×32 tiles and keep the 100 tiles that PNG compresses worst. The 2016
paper's 32×32 thumbnail dataset is the other mode. `data_prep.reader` is how training reads
the result.
"""
