from autocli.cli import main

main()
