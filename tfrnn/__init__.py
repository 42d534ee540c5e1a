"""tfrnn: progressive learned image compression with recurrent networks.

After Toderici et al., "Variable Rate Image Compression with Recurrent Neural Networks"
(ICLR 2016) and "Full Resolution Image Compression with Recurrent Neural Networks" (CVPR 2017).
"""

__version__ = "0.1.0"
