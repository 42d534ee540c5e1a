"""The command layer: one module per `tfrnn` subcommand, each a `main(argv)` (or several, for
compress / decompress / truncate). Library modules never import from here; `tfrnn.cli`
dispatches to these by name."""
