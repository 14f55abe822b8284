"""Who is who: organisations in their hierarchy, users, the posts they hold, and how they sign in."""
