from nso_install.replay import console

console()
