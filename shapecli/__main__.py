from shapecli.cli.app import run

run()
