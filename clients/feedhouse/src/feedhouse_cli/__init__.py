"""`feedhouse`: log in to a Feedhouse deployment, connect pip, uv, twine, poetry and pdm to a feed,
administer feeds through the JSON API, diagnose a machine and import packages from other indexes."""
