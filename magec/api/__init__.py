"""HTTP layer: the user app and the admin app. Only this package turns errors into HTTP."""
