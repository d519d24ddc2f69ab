from breakglass.cli.app import main

main()
