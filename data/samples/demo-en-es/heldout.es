La bicicleta verde es de mi vecino.
Desayunamos en la terraza esta mañana.
Mi padre se quedó dormido delante de la televisión.
¿Dónde puedo comprar un mapa de la ciudad?
Los melocotones están blandos y muy dulces.
Mañana por la noche nevará en las montañas.
La profesora nos dio muchos deberes.
No quiero ir al dentista.
Mi abuela guarda fotos viejas en una caja.
La biblioteca tiene libros en seis idiomas.
Esperamos el autobús durante media hora.
La puerta del garaje está abierta.
Ella compró flores para su madre.
El lago está tranquilo y claro por la mañana.
Mi hijo va a la escuela en bicicleta.
¿Tienes hambre o quieres esperar?
El restaurante estaba lleno, así que comimos en casa.
Estoy resfriado y me siento cansado.
Las calles del casco antiguo son estrechas.
Mi hermano empezará la universidad en septiembre.
El gato cazó un ratón en la cocina.
Pintamos cuadros del mar en la escuela.
La tienda vende zapatos, bolsos y sombreros.
Me alegro de verte otra vez.
La tormenta rompió dos ventanas de nuestra casa.
Mi madre cultiva lechugas y cebollas en el huerto.
El avión aterriza a las cinco de la tarde.
¿Sabes dónde están mis llaves?
El anciano se sienta en el banco cada tarde.
Iremos a la playa si hace sol.
Los niños bebieron zumo de naranja en la fiesta.
Mi tío trabaja en un barco grande.
El agua está hirviendo, añade la pasta ahora.
No oí la alarma esta mañana.
El parque es muy bonito en primavera.
Nuestro profesor viene de un pueblo de la montaña.
El pan está en la estantería encima del fregadero.
Mi hermana nació en mil novecientos noventa.
El viento es frío, cierra la ventana.
Nos reímos mucho con la película.
El hotel tiene una piscina y un jardín.
Quiero visitar a mis abuelos este fin de semana.
El médico me dijo que bebiera más agua.
Mis amigos viven en una casa cerca del bosque.
La ropa ya está seca.
¿Quién hizo esta sopa tan rica?
Los turistas sacaron fotos de la catedral.
Tengo las manos frías porque olvidé mis guantes.
Vendimos nuestro coche viejo el año pasado.
Las ovejas duermen debajo de los árboles.
Esta noche cocinaré la cena para todos.
La niña está leyendo un libro debajo del árbol.
Nuestra calle tiene muchas tiendas pequeñas.
A mi padre no le gusta el frío.
El concierto empieza a las nueve esta noche.
Ella se siente mejor después de la medicina.
Los estudiantes visitarán una fábrica la semana que viene.
Me gusta el olor de la lluvia en la hierba.
La nevera está vacía, tenemos que ir de compras.
¡Qué día tan largo y cansado!
