from nso_install.cli import main

main()
