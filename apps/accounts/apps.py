from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts and teams"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from .middleware import stamp_login

        # Signing in is activity: the idle clock starts then, in the session login() saves, so
        # the first page after it does not write the session again.
        user_logged_in.connect(stamp_login, dispatch_uid="accounts.stamp_login")
