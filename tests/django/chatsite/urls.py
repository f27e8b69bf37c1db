from django.contrib.auth.views import LoginView
from django.urls import path
from django_aws_api_gateway_websockets.views import WebSocketTokenView

from .views import ChatView

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("ws-token/", WebSocketTokenView.as_view(), name="ws_token"),
    path("ws/<slug:route>", ChatView.as_view(), name="websocket"),
]
